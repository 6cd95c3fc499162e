"""`daily_order_summary`: a pandas asset over `fact_orders`, stored by the DuckDB pandas I/O
manager one day at a time (the partition's rows are replaced, so re-running a day is safe)."""

from typing import Any

import dagster as dg

from data_platform.partitions import daily_partitions
from data_platform.resources import WAREHOUSE_POOL, WarehouseResource

IO_MANAGER_KEY = "warehouse_pandas"


@dg.asset(
    deps=["fact_orders"],
    partitions_def=daily_partitions,
    group_name="analysis",
    owners=["team:analytics"],
    kinds={"pandas", "duckdb"},
    pool=WAREHOUSE_POOL,
    io_manager_key=IO_MANAGER_KEY,
    metadata={"partition_expr": "order_date"},
)
def daily_order_summary(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> Any:  # a pandas DataFrame: the I/O manager picks its handler by the value's type
    """Per day, currency and status: orders, customers, items, total and average amount, and
    how many orders had no parseable amount."""
    from data_platform.analysis.summary import day_of_fact_orders, summarize_day  # pandas

    day = context.partition_time_window.start.date()
    with warehouse.connect(read_only=True) as conn:
        orders = day_of_fact_orders(conn, day)
    summary = summarize_day(orders, day)
    context.add_output_metadata(
        {
            "dagster/row_count": len(summary),
            "orders": int(summary["orders"].sum()),
            "total_amount": float(summary["total_amount"].sum()),
        }
    )
    return summary
