"""The production instance (deploy/dagster.yaml) on the real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster_k8s import K8sRunLauncher
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from data_platform.cli.checks_report import latest_check_rows
from data_platform.ingestion.assets import raw_orders
from data_platform.ingestion.checks import RAW_ORDERS_CHECKS
from data_platform.resources import OrdersApiResource, WarehouseResource
from data_platform_tests.deploy.conftest import PG, offline_launcher_config

pytestmark = pytest.mark.postgres

STORAGE_SECTIONS = ("run_storage", "event_log_storage", "schedule_storage")
DAY = "2024-03-05"


def test_whole_production_instance_loads(
    deploy_instance_config: dict[str, Any],
    pg_database: str,
    kubeconfig: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DagsterInstance.get() on deploy/dagster.yaml builds every part: PostgreSQL storages (their
    schema created in the fresh database), the queued coordinator, the K8s launcher."""
    launcher = offline_launcher_config(deploy_instance_config, kubeconfig)
    config = {**deploy_instance_config, "run_launcher": launcher}
    home = tmp_path / "prod_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DATA_PLATFORM_IMAGE", "registry.example.com/data-platform:test")
    monkeypatch.setenv("DAGSTER_K8S_NAMESPACE", "data-platform")

    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert isinstance(instance.run_launcher, K8sRunLauncher)
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert instance.run_monitoring_enabled
        settings = instance.get_concurrency_config()
        assert settings.pool_config.default_pool_limit == 8  # the DuckLake: many writers
        assert settings.run_queue_config.max_concurrent_runs == 10

    with psycopg2.connect(dbname=pg_database, **PG) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema='public'")
        tables = {row[0] for row in cur.fetchall()}
    assert {"runs", "event_logs", "jobs", "asset_check_executions"} <= tables


def test_postgres_instance_materializes_and_reads_back(
    deploy_instance_config: dict[str, Any], pg_database: str, warehouse: WarehouseResource
) -> None:
    """The production storage settings, without the K8s launcher (in-process execution): a raw
    partition materializes and its materialization and check results are read back."""
    overrides = {key: deploy_instance_config[key] for key in (*STORAGE_SECTIONS, "concurrency")}
    api = OrdersApiResource(demo_orders_per_day=200, demo_user_count=20)
    with dg.instance_for_test(overrides=overrides) as instance:
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        result = dg.materialize([raw_orders], partition_key=DAY, instance=instance,
                                resources={"warehouse": warehouse, "orders_api": api})  # fmt: skip
        assert result.success

        event = instance.get_latest_materialization_event(dg.AssetKey("raw_orders"))
        assert event is not None and event.run_id == result.run_id
        materialization = event.asset_materialization
        assert materialization is not None and materialization.partition == DAY
        status = instance.get_status_by_partition(dg.AssetKey("raw_orders"), [DAY],
                                                  raw_orders.partitions_def)  # fmt: skip
        assert status is not None and status[DAY].value == "MATERIALIZED"

        keys = [
            dg.AssetCheckKey(dg.AssetKey("raw_orders"), spec.name) for spec in RAW_ORDERS_CHECKS
        ]
        rows = latest_check_rows(instance, keys)
        assert [(r.check, r.result, r.partition, r.run_id) for r in rows] == [
            (spec.name, "PASSED", DAY, result.run_id) for spec in RAW_ORDERS_CHECKS
        ]

    # Read back straight from PostgreSQL too: the run and its events are in the fresh database.
    with psycopg2.connect(dbname=pg_database, **PG) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE run_id = %s", [result.run_id])
        assert cur.fetchone() == ("SUCCESS",)
        cur.execute(
            "SELECT COUNT(*) FROM asset_check_executions WHERE run_id = %s "
            "AND execution_status = 'SUCCEEDED'",
            [result.run_id],
        )
        assert cur.fetchone() == (len(RAW_ORDERS_CHECKS),)
