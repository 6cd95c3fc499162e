"""`daily_order_summary` through the real DuckDB pandas I/O manager, on a real warehouse file
whose `marts.fact_orders` holds crafted rows: the stored day agrees with DuckDB's own aggregate,
a re-run replaces the day instead of doubling it, and other days are left alone."""

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from data_platform.analysis.assets import IO_MANAGER_KEY, daily_order_summary
from data_platform.analysis.summary import SUMMARY_COLUMNS, summarize_day
from data_platform.resources import WarehousePandasIOManager, WarehouseResource
from data_platform_tests.conftest import query

ORDERS = [
    # order_id, customer_id, order_date, total_amount, currency, status, item_count
    ("o1", "c1", "2024-03-01", 100.0, "USD", "delivered", 2),
    ("o2", "c1", "2024-03-01", 50.5, "USD", "delivered", 1),
    ("o3", "c2", "2024-03-01", None, "USD", "delivered", 3),  # amount did not parse
    ("o4", "c3", "2024-03-01", 20.0, "EUR", "pending", 0),
    ("o5", "c4", "2024-03-02", 999.0, "GBP", "shipped", 4),
]


def craft_fact_orders(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA marts")
        conn.execute(
            """CREATE TABLE marts.fact_orders (order_id VARCHAR, customer_id VARCHAR,
               order_date DATE, total_amount DOUBLE, currency VARCHAR, status VARCHAR,
               item_count BIGINT)"""
        )
        conn.executemany("INSERT INTO marts.fact_orders VALUES (?, ?, ?, ?, ?, ?, ?)", ORDERS)


def materialize(path: Path, day: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [daily_order_summary],
        partition_key=day,
        resources={
            "warehouse": WarehouseResource(path=str(path)),
            IO_MANAGER_KEY: WarehousePandasIOManager(database=str(path)),
        },
    )


def test_the_stored_day_agrees_with_sql_and_a_rerun_replaces_it(warehouse_path: Path) -> None:
    craft_fact_orders(warehouse_path)
    for day in ("2024-03-01", "2024-03-02", "2024-03-01"):  # the first day twice
        result = materialize(warehouse_path, day)
        assert result.success
    stored = query(
        warehouse_path,
        """SELECT order_date::DATE, currency, status, orders, customers, items, total_amount,
                  average_amount, unpriced_orders
           FROM analysis.daily_order_summary ORDER BY 1, 2, 3""",
    )
    expected = query(
        warehouse_path,
        """SELECT order_date, currency, status, COUNT(*), COUNT(DISTINCT customer_id),
                  SUM(item_count), ROUND(COALESCE(SUM(total_amount), 0), 2),
                  ROUND(AVG(total_amount), 2), COUNT(*) - COUNT(total_amount)
           FROM marts.fact_orders GROUP BY ALL ORDER BY 1, 2, 3""",
    )
    assert stored == expected
    assert stored[0] == (date(2024, 3, 1), "EUR", "pending", 1, 1, 0, 20.0, 20.0, 0)
    metadata = result.asset_materializations_for_node("daily_order_summary")[0].metadata
    assert metadata["dagster/row_count"].value == 2  # 2024-03-01: (EUR, pending), (USD, ...)
    assert metadata["orders"].value == 4


def test_a_day_without_orders_stores_no_rows(warehouse_path: Path) -> None:
    craft_fact_orders(warehouse_path)
    assert materialize(warehouse_path, "2024-03-05").success
    assert summarize_day(pd.DataFrame(columns=[*SUMMARY_COLUMNS]), date(2024, 3, 5)).empty
