"""Every dagster.yaml in the repo passes Dagster's own instance-config validation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dagster as dg
import pytest

# Dagster has no public "validate this dagster.yaml" function; this is the one DagsterInstance
# itself calls when loading $DAGSTER_HOME (schema, storage/coordinator conflicts, concurrency).
from dagster._core.instance.config import dagster_instance_config

from data_platform_tests.conftest import REPO_ROOT


def repo_instance_configs() -> list[Path]:
    """Every dagster.yaml git would track (tracked or new, .gitignore'd copies excluded)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return sorted(REPO_ROOT / p for p in listed if Path(p).name == "dagster.yaml")


def test_the_repo_has_the_local_and_the_production_instance_configs() -> None:
    found = {p.relative_to(REPO_ROOT).as_posix() for p in repo_instance_configs()}
    assert {"dagster.yaml", "deploy/dagster.yaml"} <= found


@pytest.mark.parametrize(
    "path", repo_instance_configs(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix()
)
def test_instance_config_validates(path: Path) -> None:
    config, custom_class = dagster_instance_config(str(path.parent), path.name)
    assert custom_class is None
    # The file warehouse admits one writer; production's DuckLake admits many.
    limit = 8 if path.parent.name == "deploy" else 1
    assert config["concurrency"]["pools"] == {"default_limit": limit, "granularity": "op"}
    kafka_limit = {"key": "data_platform/kafka_topic",
                   "value": {"applyLimitPerUniqueValue": True}, "limit": 1}  # fmt: skip
    assert kafka_limit in config["concurrency"]["runs"]["tag_concurrency_limits"]


def test_production_keeps_every_local_concurrency_limit() -> None:
    """Limits added locally (a new Kafka/Spark tag, a pool) must reach production as well."""
    local, _ = dagster_instance_config(str(REPO_ROOT), "dagster.yaml")
    prod, _ = dagster_instance_config(str(REPO_ROOT / "deploy"), "dagster.yaml")
    # Pools at op granularity in both; production's lake gives the warehouse pool more slots.
    prod_pools, local_pools = prod["concurrency"]["pools"], local["concurrency"]["pools"]
    assert prod_pools["granularity"] == local_pools["granularity"]
    assert prod_pools["default_limit"] > local_pools["default_limit"]
    prod_limits = prod["concurrency"]["runs"]["tag_concurrency_limits"]
    for limit in local["concurrency"]["runs"]["tag_concurrency_limits"]:
        assert limit in prod_limits, f"deploy/dagster.yaml lacks the tag limit {limit}"


def test_invalid_config_is_rejected(tmp_path: Path) -> None:
    """The validation is real: a misspelt key fails, naming it."""
    (tmp_path / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limt: 1\n")
    with pytest.raises(dg.DagsterInvalidConfigError, match="default_limt"):
        dagster_instance_config(str(tmp_path), "dagster.yaml")


def test_local_instance_loads_with_its_limits(
    dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        settings = instance.get_concurrency_config()
        assert settings.pool_config.default_pool_limit == 1
        assert settings.run_queue_config.tag_concurrency_limits[0]["key"] == (
            "data_platform/kafka_topic"
        )


@pytest.mark.parametrize("where", [".", "deploy"])
def test_dead_runs_are_failed_and_their_slots_freed_without_an_operator(where: str) -> None:
    """Run monitoring on, polled often, slots of ended runs freed within seconds, and a launcher
    that can check its run workers (the local one's own; K8sRunLauncher's built in)."""
    config, _ = dagster_instance_config(str(REPO_ROOT / where), "dagster.yaml")
    monitoring = config["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["poll_interval_seconds"] <= 10
    assert 0 < monitoring["free_slots_after_run_end_seconds"] <= 20
    assert monitoring["max_resume_run_attempts"] == 0  # neither launcher resumes runs here
    assert config["run_retries"]["enabled"] is True
    assert config["run_retries"]["retry_on_asset_or_op_failure"] is False
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) in {
        ("data_platform.run_launcher", "LocalRunLauncher"),
        ("dagster_k8s", "K8sRunLauncher"),
    }


def test_the_local_instance_checks_its_run_workers(
    dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        assert instance.run_launcher.supports_check_run_worker_health
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 10
