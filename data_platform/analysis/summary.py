"""The daily order summary: plain pandas over one day of `fact_orders`."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

SUMMARY_COLUMNS = [
    "order_date",
    "currency",
    "status",
    "orders",
    "customers",
    "items",
    "total_amount",
    "average_amount",
    "unpriced_orders",
]


def day_of_fact_orders(conn: duckdb.DuckDBPyConnection, day: date) -> pd.DataFrame:
    """The day's orders, as the mart has them (a bound parameter; the mart's own columns)."""
    return conn.execute(
        """SELECT order_id, customer_id, order_date, total_amount, currency, status, item_count
           FROM marts.fact_orders WHERE order_date = ?""",
        [day],
    ).df()


def summarize_day(orders: pd.DataFrame, day: date) -> pd.DataFrame:
    """One row per (currency, status): order and customer counts, items, amounts. Orders whose
    amount did not parse count in `orders` and `unpriced_orders`, never in the amounts."""
    if orders.empty:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in SUMMARY_COLUMNS})
    grouped = orders.groupby(["currency", "status"], dropna=False, sort=True)
    summary = grouped.agg(
        orders=("order_id", "count"),
        customers=("customer_id", "nunique"),
        items=("item_count", "sum"),
        total_amount=("total_amount", "sum"),
        average_amount=("total_amount", "mean"),
        unpriced_orders=("total_amount", lambda amounts: int(amounts.isna().sum())),
    ).reset_index()
    summary.insert(0, "order_date", pd.Timestamp(day))
    summary["total_amount"] = summary["total_amount"].round(2)
    summary["average_amount"] = summary["average_amount"].round(2)
    return summary[SUMMARY_COLUMNS].astype({c: _dtype(c) for c in SUMMARY_COLUMNS})


def _dtype(column: str) -> str:
    if column == "order_date":
        return "datetime64[ns]"
    if column in ("currency", "status"):
        return "object"
    if column in ("total_amount", "average_amount"):
        return "float64"
    return "int64"
