"""Demo step for the dbt layer: raw -> staging -> fact_orders for the week, users -> snapshot.

Called by `data-platform demo` after the raw ingestion step, with its `materialize` and
`print_table` helpers (every step is a `dagster asset materialize` run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta

from data_platform import warehouse

# raw_users is refreshed as of these days before the window's last day, each refresh followed
# by the snapshot, so the SCD2 history has changes to show.
USERS_AS_OF_DAYS_BEFORE_LAST = (60, 30, 0)


def build(first: date, last: date, materialize: Callable[..., None]) -> None:
    materialize("stg_orders,stg_order_items,stg_customers")
    materialize("fact_orders", "--partition-range", f"{first.isoformat()}...{last.isoformat()}")
    for days_before in USERS_AS_OF_DAYS_BEFORE_LAST:
        as_of = (last - timedelta(days=days_before)).isoformat()
        config = {"ops": {"raw_users": {"config": {"as_of": as_of}}}}
        materialize("raw_users,users_snapshot", "--config-json", json.dumps(config))


def summarise(first: date, last: date, print_table: Callable[..., None]) -> None:
    with warehouse.connect(warehouse.warehouse_from_env(), read_only=True) as conn:
        per_day = conn.execute(
            """SELECT order_date, COUNT(*), COUNT(*) FILTER (WHERE total_amount IS NULL),
                      COUNT(*) FILTER (WHERE customer_name IS NULL) FROM marts.fact_orders
               WHERE order_date BETWEEN ? AND ? GROUP BY 1 ORDER BY 1""",
            [first, last],
        ).fetchall()
        per_tier = conn.execute(
            """SELECT COALESCE(order_value_tier, '(amount unparseable)'), COUNT(*)
               FROM marts.fact_orders WHERE order_date BETWEEN ? AND ?
               GROUP BY 1 ORDER BY 2 DESC""",
            [first, last],
        ).fetchall()
        users = warehouse.one_row(
            conn.execute(
                """SELECT COUNT(DISTINCT user_id),
                      COUNT(DISTINCT user_id) FILTER (WHERE versions > 1),
                      COUNT(DISTINCT user_id) FILTER (WHERE open_rows = 0)
               FROM (SELECT user_id, COUNT(*) AS versions,
                            COUNT(*) FILTER (WHERE dbt_valid_to IS NULL) AS open_rows
                     FROM snapshots.users_snapshot GROUP BY 1)"""
            )
        )
    print_table(
        "marts.fact_orders per day",
        ("order_date", "orders", "unparseable amount", "no known customer"),
        per_day,
    )
    print_table("marts.fact_orders per value tier", ("order_value_tier", "orders"), per_tier)
    print_table(
        "snapshots.users_snapshot (SCD2)",
        ("users", "with history", "closed (deleted)"),
        [tuple(users)],
    )


def run_dbt_demo(
    first: date, last: date, materialize: Callable[..., None], print_table: Callable[..., None]
) -> None:
    build(first, last, materialize)
    summarise(first, last, print_table)
