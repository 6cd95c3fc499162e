"""Data-quality checks on raw.orders, evaluated in the loading step over the run's days."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb

from data_platform.check_specs import ERROR, WARN, check_result, check_spec

NULL_CUSTOMER_WARN_SHARE = 0.05

# The ERROR checks block: staging and the mart must not be built on a day that broke them.
PARTITION_NOT_EMPTY = check_spec(
    "partition_not_empty",
    "raw_orders",
    ERROR,
    "Every day of the run loaded at least one order.",
    blocking=True,
)
ORDER_DATE_WITHIN_PARTITION = check_spec(
    "order_date_within_partition",
    "raw_orders",
    ERROR,
    "No row's order_date falls outside the day it was loaded for.",
    blocking=True,
)
REQUIRED_FIELDS_NOT_NULL = check_spec(
    "required_fields_not_null",
    "raw_orders",
    ERROR,
    "order_id and order_date are never null.",
    blocking=True,
)
NULL_CUSTOMER_SHARE = check_spec(
    "null_customer_share",
    "raw_orders",
    WARN,
    f"Fails when over {NULL_CUSTOMER_WARN_SHARE:.0%} of orders have no customer_id.",
)
RAW_ORDERS_CHECKS = [
    PARTITION_NOT_EMPTY,
    ORDER_DATE_WITHIN_PARTITION,
    REQUIRED_FIELDS_NOT_NULL,
    NULL_CUSTOMER_SHARE,
]


def raw_orders_check_results(
    conn: duckdb.DuckDBPyConnection, first: date, last: date
) -> list[dg.AssetCheckResult]:
    """Evaluate the raw_orders checks over partition days [first, last]."""
    days = conn.execute(
        """SELECT COUNT(*) FILTER (WHERE order_date IS DISTINCT FROM partition_date),
                  COUNT(*) FILTER (WHERE order_id IS NULL OR order_date IS NULL),
                  COUNT(*) FILTER (WHERE customer_id IS NULL),
                  COUNT(*), COUNT(DISTINCT partition_date)
           FROM raw.orders WHERE partition_date BETWEEN ? AND ?""",
        [first, last],
    ).fetchall()[0]  # an aggregate: exactly one row
    outside, null_required, null_customer, total, days_with_rows = days
    expected_days = (last - first).days + 1
    empty_days = [
        row[0].isoformat()
        for row in conn.execute(
            """SELECT d::DATE FROM range(?::DATE, ?::DATE + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)
               WHERE d::DATE NOT IN (SELECT DISTINCT partition_date FROM raw.orders
                                     WHERE partition_date BETWEEN ? AND ?)""",
            [first, last, first, last],
        ).fetchall()
    ]
    share = null_customer / total if total else 0.0
    # A run covers one day or a range: volume is plotted per day and the customer gap as a
    # share, so a 7-day backfill and a daily run sit on one scale; `days` says how wide each was.
    scope = {
        "partition_range": dg.MetadataValue.text(f"{first}...{last}"),
        "days": dg.MetadataValue.int(expected_days),
    }
    return [
        check_result(
            PARTITION_NOT_EMPTY,
            days_with_rows == expected_days,
            {
                **scope,
                "empty_days": dg.MetadataValue.json(empty_days),
                "rows_per_day": dg.MetadataValue.float(round(total / expected_days, 1)),
            },
        ),
        check_result(
            ORDER_DATE_WITHIN_PARTITION,
            outside == 0,
            {**scope, "failing_rows": dg.MetadataValue.int(outside)},
        ),
        check_result(
            REQUIRED_FIELDS_NOT_NULL,
            null_required == 0,
            {**scope, "failing_rows": dg.MetadataValue.int(null_required)},
        ),
        check_result(
            NULL_CUSTOMER_SHARE,
            share <= NULL_CUSTOMER_WARN_SHARE,
            {
                **scope,
                "null_customer_rows": dg.MetadataValue.int(null_customer),
                "null_customer_share": dg.MetadataValue.float(round(share, 4)),
                "threshold": dg.MetadataValue.float(NULL_CUSTOMER_WARN_SHARE),
            },
        ),
    ]
