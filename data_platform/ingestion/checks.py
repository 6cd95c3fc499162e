"""Data-quality checks on raw.orders, evaluated in the loading step over the run's days."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb

NULL_CUSTOMER_WARN_SHARE = 0.05

RAW_ORDERS_CHECKS = [
    dg.AssetCheckSpec(
        "partition_not_empty",
        asset="raw_orders",
        description="Every day of the run loaded at least one order.",
    ),
    dg.AssetCheckSpec(
        "order_date_within_partition",
        asset="raw_orders",
        description="No row's order_date falls outside the day it was loaded for.",
    ),
    dg.AssetCheckSpec(
        "required_fields_not_null",
        asset="raw_orders",
        description="order_id and order_date are never null.",
    ),
    dg.AssetCheckSpec(
        "null_customer_share",
        asset="raw_orders",
        description=f"WARN when over {NULL_CUSTOMER_WARN_SHARE:.0%} of orders have no customer_id.",
    ),
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
    scope = {"partition_range": dg.MetadataValue.text(f"{first}...{last}")}
    return [
        dg.AssetCheckResult(
            check_name="partition_not_empty",
            passed=days_with_rows == expected_days,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                **scope,
                "empty_days": dg.MetadataValue.json(empty_days),
                "rows": dg.MetadataValue.int(total),
            },
        ),
        dg.AssetCheckResult(
            check_name="order_date_within_partition",
            passed=outside == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={**scope, "failing_rows": dg.MetadataValue.int(outside)},
        ),
        dg.AssetCheckResult(
            check_name="required_fields_not_null",
            passed=null_required == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={**scope, "failing_rows": dg.MetadataValue.int(null_required)},
        ),
        dg.AssetCheckResult(
            check_name="null_customer_share",
            passed=share <= NULL_CUSTOMER_WARN_SHARE,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                **scope,
                "null_customer_rows": dg.MetadataValue.int(null_customer),
                "null_customer_share": dg.MetadataValue.float(round(share, 4)),
                "threshold": dg.MetadataValue.float(NULL_CUSTOMER_WARN_SHARE),
            },
        ),
    ]
