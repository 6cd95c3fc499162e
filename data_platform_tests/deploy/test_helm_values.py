"""deploy/helm/values.yaml parses and carries the same production settings as
deploy/dagster.yaml, in the official chart's keys; secrets appear only as references."""

from __future__ import annotations

from typing import Any

import pytest

from data_platform_tests.deploy.conftest import DEPLOY, load_yaml

SECRET_WORDS = ("password", "token", "secret", "apikey", "api_key", "credential")


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return load_yaml(DEPLOY / "helm" / "values.yaml")


def launcher_config() -> dict[str, Any]:
    return load_yaml(DEPLOY / "dagster.yaml")["run_launcher"]["config"]


def test_user_deployment_serves_this_code_location(values: dict[str, Any]) -> None:
    user = values["dagster-user-deployments"]
    assert user["enabled"] is True
    [deployment] = user["deployments"]
    assert deployment["name"] == "data-platform"
    assert deployment["image"]["repository"] and deployment["image"]["tag"]
    assert deployment["codeServerArgs"] == ["--module-name", "data_platform.definitions"]
    assert deployment["port"] == 3030
    assert {"name": "data-platform-secrets"} in deployment["envSecrets"]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}


def test_run_launcher_matches_deploy_dagster_yaml(values: dict[str, Any]) -> None:
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    expected = launcher_config()
    assert [s["name"] for s in k8s["envSecrets"]] == expected["env_secrets"]
    assert [c["name"] for c in k8s["envConfigMaps"]] == expected["env_config_maps"]
    assert k8s["envVars"] == expected["env_vars"]
    assert k8s["resources"] == expected["resources"]
    assert k8s["labels"] == expected["labels"]
    assert k8s["failPodOnRunFailure"] is expected["fail_pod_on_run_failure"] is True
    assert k8s["runK8sConfig"]["jobSpecConfig"] == expected["run_k8s_config"]["job_spec_config"]
    # The warehouse is a DuckLake (PostgreSQL catalog, S3 data): no volume shared by pods.
    assert "volumes" not in k8s and "volumes" not in expected
    assert "volumeMounts" not in k8s and "volume_mounts" not in expected
    user = values["dagster-user-deployments"]["deployments"][0]
    assert "volumes" not in user and "volumeMounts" not in user
    assert values["global"]["serviceAccountName"] == expected["service_account_name"]
    assert values["global"]["postgresqlSecretName"] == expected["postgres_password_secret"]


def test_daemon_queue_retries_and_limits(values: dict[str, Any]) -> None:
    daemon = values["dagsterDaemon"]
    assert daemon["enabled"] is True
    assert daemon["runCoordinator"]["enabled"] is True
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    prod = load_yaml(DEPLOY / "dagster.yaml")
    assert daemon["runRetries"]["enabled"] is True
    assert daemon["runRetries"]["maxRetries"] == prod["run_retries"]["max_retries"]
    assert daemon["runMonitoring"]["enabled"] is True
    monitoring = prod["run_monitoring"]
    assert daemon["runMonitoring"] == {
        "enabled": monitoring["enabled"],
        "startTimeoutSeconds": monitoring["start_timeout_seconds"],
        "cancelTimeoutSeconds": monitoring["cancel_timeout_seconds"],
        "maxResumeRunAttempts": monitoring["max_resume_run_attempts"],
        "pollIntervalSeconds": monitoring["poll_interval_seconds"],
        "freeSlotsAfterRunEndSeconds": monitoring["free_slots_after_run_end_seconds"],
    }

    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True
    pools = prod["concurrency"]["pools"]
    assert concurrency["pools"] == {"defaultLimit": pools["default_limit"], "granularity": "op"}
    assert (
        concurrency["runs"]["maxConcurrentRuns"]
        == prod["concurrency"]["runs"]["max_concurrent_runs"]
    )
    assert (
        concurrency["runs"]["tagConcurrencyLimits"]
        == (prod["concurrency"]["runs"]["tag_concurrency_limits"])
    )


def test_postgres_is_external_and_password_only_referenced(values: dict[str, Any]) -> None:
    pg = values["postgresql"]
    assert pg["enabled"] is False and pg["postgresqlHost"]
    assert pg["postgresqlPassword"] == ""
    assert values["generatePostgresqlPasswordSecret"] is False


def _literal_secrets(node: Any, path: str = "") -> list[str]:
    """Paths of scalar values under secret-looking keys, except references (names of Secrets)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}"
            secretish = any(w in key.lower() for w in SECRET_WORDS) and not key.endswith(
                ("SecretName", "Secrets", "_secrets", "_secret", "secretKeyRef")
            )
            if (
                secretish
                and isinstance(value, str | int)
                and not isinstance(value, bool)
                and value != ""
            ):
                found.append(here)
            found += _literal_secrets(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += _literal_secrets(item, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("name", ["helm/values.yaml", "dagster.yaml"])
def test_no_secret_literals(name: str) -> None:
    document = load_yaml(DEPLOY / name)
    assert _literal_secrets(document) == []
    if name == "dagster.yaml":
        assert document["run_storage"]["config"]["postgres_db"]["password"] == {
            "env": "DAGSTER_PG_PASSWORD"
        }


def test_secret_scan_catches_a_literal() -> None:
    assert _literal_secrets({"postgresql": {"postgresqlPassword": "hunter2"}}) == [
        ".postgresql.postgresqlPassword"
    ]
