"""The real jobs: the daily job builds raw -> staging -> fact_orders for its day; the users
refresh job refreshes raw_users and then the snapshot."""

from pathlib import Path
from types import ModuleType

import dagster as dg

from data_platform.ingestion import assets as raw
from data_platform.ingestion import automation
from data_platform.resources import WarehouseResource
from data_platform_tests.conftest import query
from data_platform_tests.dbt.conftest import ORDERS_PER_DAY, make_resources


def test_daily_and_users_jobs_cover_the_dbt_layer(
    dbt_assets_module: ModuleType, warehouse: WarehouseResource, warehouse_path: Path
) -> None:
    defs = dg.Definitions(
        assets=[raw.raw_orders, raw.raw_order_items, raw.raw_customers, raw.raw_users,
                dbt_assets_module.dbt_models, dbt_assets_module.dbt_snapshots],
        jobs=[automation.daily_ingestion_job, automation.users_refresh_job],
        resources=make_resources(warehouse),
    )  # fmt: skip

    daily = defs.resolve_job_def("daily_ingestion_job").execute_in_process(
        partition_key="2024-04-02"
    )
    users = defs.resolve_job_def("users_refresh_job").execute_in_process(
        run_config={"ops": {"raw_users": {"config": {"as_of": "2024-04-02"}}}}
    )

    assert daily.success and users.success
    assert query(warehouse_path, "SELECT order_date::VARCHAR, COUNT(*) FROM marts.fact_orders "
                                 "GROUP BY 1") == [("2024-04-02", ORDERS_PER_DAY)]  # fmt: skip
    users_count = query(warehouse_path, "SELECT COUNT(*) FROM raw.users")[0][0]
    assert query(warehouse_path, "SELECT COUNT(*) FROM snapshots.users_snapshot") == [
        (users_count,)
    ]
