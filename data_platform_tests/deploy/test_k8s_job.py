"""The Kubernetes Job the K8sRunLauncher in deploy/dagster.yaml would create for a run, built by
dagster-k8s's own code (launcher from the instance config, container context, job builder);
nothing is applied to a cluster."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import construct_dagster_k8s_job, get_job_name_from_run_id

from data_platform_tests.deploy.conftest import offline_launcher_config

IMAGE = "registry.example.com/data-platform:3f2a1bc"
NAMESPACE = "data-platform"
SECRET_VALUE = "tok-should-never-appear-in-a-job-spec"


def daily_ingestion_job() -> dg.JobDefinition:
    from data_platform.definitions import defs

    return defs.resolve_job_def("daily_ingestion_job")


def build_run_job(launcher: K8sRunLauncher, instance: dg.DagsterInstance) -> Any:
    """Mirror of K8sRunLauncher.launch_run up to the API call (its private
    `_launch_k8s_job_with_args`): same container context, job config, labels and builder."""
    # The run-worker command is built by Dagster's gRPC argument type; there is no public path.
    from dagster._grpc.types import ExecuteRunArgs

    origin = dg.reconstructable(daily_ingestion_job).get_python_origin()
    run = dg.DagsterRun(job_name="daily_ingestion_job", run_id=str(uuid.uuid4()),
                        job_code_origin=origin,
                        tags={"dagster/partition": "2024-03-01"})  # fmt: skip
    args = ExecuteRunArgs(
        job_origin=origin, run_id=run.run_id, instance_ref=instance.get_ref(),
        set_exit_code_on_failure=launcher.fail_pod_on_run_failure,
    ).get_command_args()  # fmt: skip
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=True)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=None, run_launcher=launcher),
        args=args,
        job_name=get_job_name_from_run_id(run.run_id),
        pod_name=get_job_name_from_run_id(run.run_id),
        component="run_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": run.job_name, "dagster/run-id": run.run_id},
        env_vars=[{"name": "DAGSTER_RUN_JOB_NAME", "value": run.job_name}],
    )
    return run, context, job


@pytest.fixture
def launcher_and_instance(deploy_instance_config: dict[str, Any], kubeconfig: Path,
                          monkeypatch: pytest.MonkeyPatch):  # fmt: skip
    monkeypatch.setenv("DATA_PLATFORM_IMAGE", IMAGE)
    monkeypatch.setenv("DAGSTER_K8S_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("ORDERS_API_TOKEN", SECRET_VALUE)
    launcher_config = offline_launcher_config(deploy_instance_config, kubeconfig)
    with dg.instance_for_test(overrides={"run_launcher": launcher_config}) as instance:
        assert isinstance(instance.run_launcher, K8sRunLauncher)
        yield instance.run_launcher, instance


def test_run_job_carries_the_production_settings(launcher_and_instance) -> None:
    launcher, instance = launcher_and_instance
    run, context, job = build_run_job(launcher, instance)

    assert context.namespace == NAMESPACE
    assert job.metadata.name == f"dagster-run-{run.run_id}"
    pod = job.spec.template.spec
    [container] = pod.containers
    assert container.image == IMAGE
    assert container.image_pull_policy == "IfNotPresent"
    assert pod.service_account_name == "data-platform-runs"
    assert pod.restart_policy == "Never"

    # Command: the Dagster run worker, executing exactly this run.
    assert container.args[:3] == ["dagster", "api", "execute_run"]
    payload = json.loads(container.args[3])  # serdes keeps the legacy field names
    assert payload["__class__"] == "ExecuteRunArgs"
    assert payload["pipeline_run_id"] == run.run_id
    assert payload["set_exit_code_on_failure"] is True
    assert "data_platform_tests.deploy.test_k8s_job" in json.dumps(payload["pipeline_origin"])

    # Environment: secrets only by reference (envFrom, secretKeyRef), plain settings inline.
    assert [e.secret_ref.name for e in container.env_from if e.secret_ref] == [
        "data-platform-secrets"
    ]
    assert [e.config_map_ref.name for e in container.env_from if e.config_map_ref] == [
        "data-platform-env"
    ]
    env = {e.name: e for e in container.env}
    pg_password = env["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref
    assert (pg_password.name, pg_password.key) == (
        "dagster-postgresql-secret",
        "postgresql-password",
    )
    # The lake's settings arrive from the ConfigMap and Secret (env_from), none inline.
    assert "DATA_PLATFORM_WAREHOUSE" not in env
    assert env["DATA_PLATFORM_STATE_DIR"].value == "/tmp/data-platform"
    assert env["DAGSTER_HOME"].value == "/opt/dagster/dagster_home"
    assert env["DAGSTER_RUN_JOB_NAME"].value == "daily_ingestion_job"
    assert SECRET_VALUE not in json.dumps(job.to_dict(), default=str)

    # Labels on the Job and its pod: ours plus Dagster's.
    for labels in (job.metadata.labels, job.spec.template.metadata.labels):
        assert labels["app.kubernetes.io/part-of"] == "data-platform"
        assert labels["data-platform/component"] == "run"
        assert labels["app.kubernetes.io/component"] == "run_worker"
        assert labels["dagster/run-id"] == run.run_id
        assert labels["dagster/job"] == "daily_ingestion_job"

    # Resources, and no shared volume: the warehouse is a DuckLake on PostgreSQL and S3 (the
    # instance itself travels in the command's args).
    assert container.resources.requests == {"cpu": "500m", "memory": "1Gi"}
    assert container.resources.limits == {"memory": "4Gi"}
    assert not container.volume_mounts
    assert not pod.volumes

    # Kubernetes never retries a run pod; Dagster's run retries do (a new run, new pod).
    assert job.spec.backoff_limit == 0
    assert job.spec.ttl_seconds_after_finished == 86400
    assert instance.run_retries_enabled is False  # this test instance only overrides the launcher
