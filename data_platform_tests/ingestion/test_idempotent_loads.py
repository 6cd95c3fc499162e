"""Partition loads are idempotent and atomic, on a real DuckDB file and on a real DuckLake."""

import dagster as dg
import pytest

from data_platform.faults import InjectedFault
from data_platform.ingestion.assets import raw_orders, raw_users
from data_platform_tests.conftest import query
from data_platform_tests.ingestion.conftest import RAW_ASSETS, materialize_range

pytestmark = pytest.mark.both_backends

CONTENT_CHECKSUM = """
    SELECT COUNT(*), SUM(hash(order_id, customer_id, order_date, total_amount, currency, status,
                              updated_at, partition_date))
    FROM raw.orders WHERE partition_date = ?"""


def test_same_partition_three_times_gives_one_copy(resources, warehouse_path) -> None:
    seen = []
    run_ids = []
    for _ in range(3):
        result = dg.materialize([raw_orders], resources=resources, partition_key="2024-01-15")
        assert result.success
        run_ids.append(result.run_id)
        seen.append(query(warehouse_path, CONTENT_CHECKSUM, ["2024-01-15"])[0])
    assert seen[0] == seen[1] == seen[2]
    assert seen[0][0] > 300  # 300 orders + the source's duplicate rows
    assert query(warehouse_path, "SELECT DISTINCT etl_run_id FROM raw.orders") == [(run_ids[-1],)]
    audit = query(
        warehouse_path,
        "SELECT run_id, status, rows_processed FROM meta.etl_runs ORDER BY started_at",
    )
    assert [(r, "completed", seen[0][0]) for r in run_ids] == audit


def test_reloading_a_day_never_touches_other_days(resources, warehouse_path) -> None:
    assert materialize_range([raw_orders], resources, "2024-01-01", "2024-01-03").success
    before = {
        d: query(warehouse_path, CONTENT_CHECKSUM, [d])[0] for d in ("2024-01-01", "2024-01-03")
    }
    first_runs = query(warehouse_path, "SELECT DISTINCT etl_run_id FROM raw.orders")
    assert dg.materialize([raw_orders], resources=resources, partition_key="2024-01-02").success
    after = {
        d: query(warehouse_path, CONTENT_CHECKSUM, [d])[0] for d in ("2024-01-01", "2024-01-03")
    }
    assert before == after
    runs_by_day = dict(
        query(
            warehouse_path,
            "SELECT partition_date::VARCHAR, any_value(etl_run_id) FROM raw.orders GROUP BY 1",
        )
    )
    assert runs_by_day["2024-01-01"] == runs_by_day["2024-01-03"] == first_runs[0][0]
    assert runs_by_day["2024-01-02"] != first_runs[0][0]


@pytest.mark.parametrize("point", ["ingestion.after_delete", "ingestion.before_commit"])
def test_crash_before_commit_keeps_previous_rows(
    resources, warehouse_path, monkeypatch, point
) -> None:
    assert dg.materialize([raw_orders], resources=resources, partition_key="2024-01-15").success
    before = query(warehouse_path, CONTENT_CHECKSUM, ["2024-01-15"])[0]

    monkeypatch.setenv("DATA_PLATFORM_FAULTS", point)
    failed = dg.materialize(
        [raw_orders], resources=resources, partition_key="2024-01-15", raise_on_error=False
    )
    assert not failed.success
    assert query(warehouse_path, CONTENT_CHECKSUM, ["2024-01-15"])[0] == before
    status, error, rows = query(
        warehouse_path,
        "SELECT status, error_message, rows_processed FROM meta.etl_runs WHERE run_id = ?",
        [failed.run_id],
    )[0]
    assert status == "failed"
    assert error == f"{InjectedFault.__name__}: injected fault at {point!r}"
    assert rows is None

    monkeypatch.delenv("DATA_PLATFORM_FAULTS")
    assert dg.materialize([raw_orders], resources=resources, partition_key="2024-01-15").success
    assert query(warehouse_path, CONTENT_CHECKSUM, ["2024-01-15"])[0] == before


def test_range_backfill_is_one_run_loading_each_day_once(resources, warehouse_path) -> None:
    result = materialize_range(RAW_ASSETS, resources, "2024-02-01", "2024-02-10")
    assert result.success
    per_day = query(
        warehouse_path,
        """SELECT partition_date::VARCHAR, COUNT(DISTINCT etl_run_id), COUNT(*) FROM raw.orders
           GROUP BY 1 ORDER BY 1""",
    )
    assert [d for d, _, _ in per_day] == [f"2024-02-{n:02d}" for n in range(1, 11)]
    assert all(runs == 1 for _, runs, _ in per_day)
    for table in ("raw.order_items", "raw.customers"):
        days = query(warehouse_path, f"SELECT COUNT(DISTINCT partition_date) FROM {table}")
        assert days == [(10,)]
    # Each day is its own audited transaction, all in the one run.
    audit = query(
        warehouse_path,
        """SELECT asset_key, COUNT(*), COUNT(DISTINCT run_id) FROM meta.etl_runs
           GROUP BY 1 ORDER BY 1""",
    )
    assert audit == [("raw_customers", 10, 1), ("raw_order_items", 10, 1), ("raw_orders", 10, 1)]
    # A second backfill over the same range replaces, never appends.
    counts = query(warehouse_path, "SELECT COUNT(*) FROM raw.orders")
    assert materialize_range(RAW_ASSETS, resources, "2024-02-01", "2024-02-10").success
    assert query(warehouse_path, "SELECT COUNT(*) FROM raw.orders") == counts


def test_materialization_metadata_and_checks(resources) -> None:
    result = materialize_range([raw_orders], resources, "2024-03-01", "2024-03-02")
    materializations = result.asset_materializations_for_node("raw_orders")
    assert sorted(m.partition for m in materializations) == ["2024-03-01", "2024-03-02"]
    metadata = materializations[0].metadata
    assert metadata["dagster/row_count"].value > 600
    assert metadata["partition_range"].value == "2024-03-01...2024-03-02"
    assert metadata["duration_seconds"].value > 0
    assert "| order_id |" in metadata["preview"].value
    assert sum(metadata["rows_by_day"].value.values()) == metadata["dagster/row_count"].value
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert set(checks) == {
        "partition_not_empty",
        "order_date_within_partition",
        "required_fields_not_null",
        "null_customer_share",
    }
    assert all(c.passed for c in checks.values())
    assert checks["null_customer_share"].severity == dg.AssetCheckSeverity.WARN
    assert 0 < checks["null_customer_share"].metadata["null_customer_share"].value < 0.05


def test_raw_users_is_replaced_whole_as_of_a_day(resources, warehouse_path) -> None:
    def load(as_of: str) -> set[tuple]:
        config = dg.RunConfig(ops={"raw_users": {"config": {"as_of": as_of}}})
        assert dg.materialize([raw_users], resources=resources, run_config=config).success
        return set(query(warehouse_path, "SELECT user_id, email, address, status FROM raw.users"))

    early, later = load("2024-01-01"), load("2024-09-01")
    assert early != later
    assert load("2024-01-01") == early, "reloading an earlier view replaces the table exactly"
