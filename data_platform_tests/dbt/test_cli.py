"""The dbt project from the command line: plain `dbt build`, and Dagster's --partition-range."""

import json
import os
import subprocess
from pathlib import Path
from types import ModuleType

import dagster as dg
import pytest

from data_platform.cli.demo import materialize_command
from data_platform.dbt.project import DBT_PROJECT_DIR, dbt_executable
from data_platform.ingestion.assets import raw_users
from data_platform.paths import warehouse_path as python_warehouse_path
from data_platform.resources import WarehouseResource
from data_platform_tests.conftest import query
from data_platform_tests.dbt.conftest import RAW_DAILY, make_resources

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_dbt_build_runs_standalone_on_the_python_default_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dbt_manifest: Path
) -> None:
    """With no env at all, dbt and Python both use .data/warehouse.duckdb under the cwd."""
    monkeypatch.delenv("DATA_PLATFORM_WAREHOUSE")
    monkeypatch.delenv("DATA_PLATFORM_STATE_DIR")
    monkeypatch.chdir(tmp_path)
    default_path = python_warehouse_path()
    assert default_path == tmp_path / ".data" / "warehouse.duckdb"
    resources = make_resources(WarehouseResource())  # the default path, as dbt's profile
    for day in ("2024-03-01", "2024-03-02"):
        assert dg.materialize(RAW_DAILY, resources=resources, partition_key=day).success
    assert dg.materialize(
        [raw_users], resources=resources,
        run_config={"ops": {"raw_users": {"config": {"as_of": "2024-03-02"}}}},
    ).success  # fmt: skip

    completed = dbt_cli(tmp_path, "build")

    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "ERROR=0" in completed.stdout
    relations = query(default_path, "SELECT table_schema || '.' || table_name "
                                    "FROM information_schema.tables")  # fmt: skip
    assert {"staging.stg_orders", "marts.fact_orders", "snapshots.users_snapshot"} <= {
        r[0] for r in relations
    }
    assert not any(r[0].startswith("main_") for r in relations)
    orders = query(default_path, "SELECT COUNT(DISTINCT order_id) FROM raw.orders")
    assert query(default_path, "SELECT COUNT(*) FROM marts.fact_orders") == orders


MALFORMED_MIN_DATE = "2024-03-01; drop table raw.orders"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--vars", json.dumps({"min_date": MALFORMED_MIN_DATE, "max_date": "2024-03-02"})],
            {},
            "var min_date must be a date YYYY-MM-DD",
        ),
        (
            [],
            {"DATA_PLATFORM_MIN_DATE": MALFORMED_MIN_DATE, "DATA_PLATFORM_MAX_DATE": "2024-03-02"},
            "environment variable DATA_PLATFORM_MIN_DATE must be a date YYYY-MM-DD",
        ),
        (
            [],
            {"DATA_PLATFORM_MIN_DATE": "2024-03-02", "DATA_PLATFORM_MAX_DATE": "2024-03-01"},
            "environment variable DATA_PLATFORM_MAX_DATE (exclusive) must be after min_date",
        ),
    ],
    ids=["vars", "environment", "environment-reversed"],
)
def test_a_malformed_range_fails_with_a_message_naming_where_it_came_from(
    tmp_path: Path, dbt_manifest: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    completed = dbt_cli(tmp_path, "compile", "--select", "fact_orders", *args, env=env)
    assert completed.returncode != 0
    assert message in completed.stdout


def test_a_new_day_in_the_environment_keeps_partial_parsing(
    tmp_path: Path, dbt_manifest: Path
) -> None:
    """Dagster passes each partition's window in the environment: a new day re-parses at most
    the files that read it, where new --vars (the last parse) make dbt re-parse everything."""

    def parse(*args: str, day: str = "") -> str:
        window = {"DATA_PLATFORM_MIN_DATE": day, "DATA_PLATFORM_MAX_DATE": day and "2099-01-01"}
        completed = dbt_cli(tmp_path, "parse", *args, env=window)
        assert completed.returncode == 0, completed.stdout[-3000:]
        return completed.stdout

    parse(day="2024-03-01")
    assert "Unable to do partial parsing" not in parse(day="2024-03-02")
    assert "Unable to do partial parsing" not in parse(day="")
    assert "Unable to do partial parsing because config vars" in parse(
        "--vars", json.dumps({"min_date": "2024-03-02", "max_date": "2024-03-03"})
    )


def dbt_cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Plain dbt from the command line, with no Dagster and no DBT_* variables involved (other
    than `env`)."""
    return subprocess.run(
        [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(cwd / "target"),
         "--log-path", str(cwd / "logs")],
        cwd=cwd,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("DBT_")}, **(env or {})},
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def dagster_cli(dagster_home: Path, selection: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        materialize_command(selection, *extra),
        cwd=REPO_ROOT, env={**os.environ, "DAGSTER_HOME": str(dagster_home)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_partition_range_materialization_of_fact_orders_from_the_cli(
    dagster_home: Path, warehouse: WarehouseResource, dbt_assets_module: ModuleType
) -> None:
    first, last = "2024-03-01", "2024-03-03"
    resources = make_resources(warehouse)
    range_tags = {"dagster/asset_partition_range_start": first,
                  "dagster/asset_partition_range_end": last}  # fmt: skip
    assert dg.materialize(RAW_DAILY, resources=resources, tags=range_tags).success
    staging = dg.AssetSelection.groups("staging")
    assert dg.materialize(
        [dbt_assets_module.dbt_models], selection=staging, resources=resources
    ).success

    completed = dagster_cli(dagster_home, "fact_orders", "--partition-range", f"{first}...{last}")

    assert completed.returncode == 0, completed.stderr[-3000:]
    warehouse_path = warehouse.resolved_path()
    per_day = query(warehouse_path, "SELECT order_date, COUNT(*) FROM marts.fact_orders "
                                    "GROUP BY 1 ORDER BY 1")  # fmt: skip
    expected = query(warehouse_path, "SELECT order_date, COUNT(DISTINCT order_id) FROM raw.orders "
                                     "GROUP BY 1 ORDER BY 1")  # fmt: skip
    assert per_day == expected and len(per_day) == 3
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        fact = dg.AssetKey("fact_orders")
        assert instance.get_materialized_partitions(fact) == {
            "2024-03-01",
            "2024-03-02",
            "2024-03-03",
        }
        records = instance.fetch_materializations(fact, limit=10).records
        assert len({r.run_id for r in records}) == 1  # one run for the whole range
