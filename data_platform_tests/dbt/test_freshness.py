"""`dbt source freshness` on raw tables loaded by the ingestion assets, then aged by hand."""

from pathlib import Path

import dagster as dg

from data_platform.ingestion.assets import raw_users
from data_platform_tests.conftest import query
from data_platform_tests.dbt.conftest import RAW_DAILY, dbt_command, execute, statuses

FRESHNESS = ["source", "freshness"]
SOURCES = {f"source.data_platform.raw.{t}" for t in ("orders", "order_items", "customers", "users")}


def test_fresh_loads_pass_a_late_one_warns_and_a_missed_one_errors(
    resources: dict, warehouse_path: Path
) -> None:
    assert dg.materialize(RAW_DAILY, resources=resources, partition_key="2024-03-01").success
    assert dg.materialize([raw_users], resources=resources).success

    fresh = dbt_command(warehouse_path, FRESHNESS, artifact="sources.json")

    assert statuses(fresh) == dict.fromkeys(SOURCES, "pass")
    assert all(r["max_loaded_at_time_ago_in_s"] < 3600 for r in fresh)

    # The orders were loaded 30 hours ago (a late load), the customers 3 days ago (missed).
    execute(
        warehouse_path, "UPDATE raw.orders SET etl_loaded_at = etl_loaded_at - INTERVAL 30 HOUR"
    )
    execute(
        warehouse_path, "UPDATE raw.customers SET etl_loaded_at = etl_loaded_at - INTERVAL 3 DAY"
    )
    assert query(warehouse_path, "SELECT COUNT(*) FROM raw.orders")[0][0] > 0

    aged = statuses(dbt_command(warehouse_path, FRESHNESS, artifact="sources.json"))

    assert aged == {
        "source.data_platform.raw.orders": "warn",
        "source.data_platform.raw.order_items": "pass",
        "source.data_platform.raw.customers": "error",
        "source.data_platform.raw.users": "pass",
    }
