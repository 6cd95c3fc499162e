"""Fixtures for the dbt layer: the prepared manifest, resources, and a 3-day warehouse.

The dbt asset modules are imported inside fixtures, after the session fixture has prepared the
manifest (importing `@dbt_assets` without one fails), so a fresh clone can run these tests.
"""

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
import duckdb
import pytest
import yaml
from dagster_dbt import DbtProject

from data_platform.dbt.project import DBT_PROJECT_DIR
from data_platform.ingestion.assets import raw_customers, raw_order_items, raw_orders, raw_users
from data_platform.resources import OrdersApiResource, WarehouseResource
from data_platform.warehouse import ensure_raw_schema

RAW_DAILY = [raw_orders, raw_order_items, raw_customers]
THREE_DAYS = ("2024-03-01", "2024-03-02", "2024-03-03")
ORDERS_PER_DAY = 300


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """`dbt parse` once per session, and only when the manifest is missing or stale."""
    from data_platform.dbt.project import ensure_manifest

    return ensure_manifest()


@pytest.fixture(scope="session")
def dbt_assets_module(dbt_manifest: Path) -> ModuleType:
    from data_platform.dbt import assets

    return assets


def make_resources(warehouse: WarehouseResource) -> dict:
    from data_platform.dbt.project import dbt_resource

    return {
        "warehouse": warehouse,
        "orders_api": OrdersApiResource(demo_orders_per_day=ORDERS_PER_DAY, demo_user_count=50),
        "dbt": dbt_resource(),
    }


@pytest.fixture
def resources(warehouse: WarehouseResource, dbt_manifest: Path) -> dict:
    return make_resources(warehouse)


def build_days(
    assets: ModuleType, resources: dict, days: tuple[str, ...], instance: dg.DagsterInstance
) -> list[dg.ExecuteInProcessResult]:
    """Raw -> staging -> fact_orders, one run per day, as the daily schedule runs them."""
    # Staging sits between raw and fact_orders in the run, as in daily_ingestion_job: without it
    # the run has no edge from raw_orders to fact_orders and may build the mart first.
    return [
        dg.materialize(
            [*RAW_DAILY, assets.dbt_models],
            resources=resources,
            partition_key=day,
            instance=instance,
        )
        for day in days
    ]


@pytest.fixture(scope="module")
def three_days_file(
    tmp_path_factory: pytest.TempPathFactory, dbt_assets_module: ModuleType
) -> Path:
    """A warehouse with 3 demo days built through raw, staging and fact_orders (built once)."""
    path = tmp_path_factory.mktemp("three_days") / "warehouse.duckdb"
    with dg.instance_for_test() as instance:
        results = build_days(
            dbt_assets_module,
            make_resources(WarehouseResource(path=str(path))),
            THREE_DAYS,
            instance,
        )
    assert all(r.success for r in results)
    return path


@pytest.fixture
def three_days(three_days_file: Path, warehouse_path: Path) -> Path:
    """This test's own copy of the 3-day warehouse, at the test's warehouse path."""
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(three_days_file, warehouse_path)
    return warehouse_path


def execute(path: Path, sql: str, params: list | None = None) -> None:
    with duckdb.connect(str(path)) as conn:
        conn.execute(sql, params or [])


def dbt_command(
    path: Path,
    args: Sequence[str],
    project: DbtProject | None = None,
    artifact: str = "run_results.json",
) -> list[dict[str, Any]]:
    """`dbt <args>` on the warehouse at `path`, as the assets run it (the same resource and
    warehouse variable, a throw-away target dir); returns the artifact's results (`dbt source
    freshness` writes sources.json)."""
    from data_platform.dbt.project import dbt_cli
    from data_platform.dbt.runner import warehouse_env

    with warehouse_env(path), tempfile.TemporaryDirectory(prefix="dbt-target-") as target:
        invocation = dbt_cli(project).cli(
            list(args), raise_on_error=False, target_path=Path(target)
        )
        invocation.wait()
        return invocation.get_artifact(artifact)["results"]


def statuses(results: list[dict[str, Any]]) -> dict[str, str]:
    """unique_id -> status (pass, fail, warn, error, success, ...) of each node dbt ran."""
    return {r["unique_id"]: r["status"] for r in results}


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Path:
    """Empty raw tables and the staging views, all a unit test needs (its inputs' column
    types) and enough to build fact_orders."""
    path = tmp_path_factory.mktemp("staged") / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        ensure_raw_schema(conn)
    results = dbt_command(path, ["run", "--select", "staging"])
    assert set(statuses(results).values()) == {"success"}
    return path


def marts_yaml(project_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((project_dir / "models" / "marts" / "_marts.yml").read_text())


def project_copy(tmp_path: Path, marts: dict[str, Any]) -> DbtProject:
    """A parsed copy of the dbt project whose marts YAML is `marts` (to break one thing)."""
    from data_platform.dbt.project import ensure_manifest

    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    (copy / "models" / "marts" / "_marts.yml").write_text(yaml.safe_dump(marts, sort_keys=False))
    project = DbtProject(project_dir=copy, profiles_dir=copy)
    ensure_manifest(project)
    return project


@pytest.fixture
def users_asset() -> Iterator:
    yield raw_users
