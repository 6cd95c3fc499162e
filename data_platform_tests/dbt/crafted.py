"""Crafted raw rows for edge cases the demo source only hits by chance."""

from contextlib import AbstractContextManager
from datetime import date, datetime
from pathlib import Path

import duckdb

from data_platform import warehouse
from data_platform.warehouse import ensure_raw_schema

LOADED_AT = datetime(2024, 6, 1, 12, 0)


def _connect(path: Path | warehouse.Warehouse) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """The warehouse file (created if missing) or the lake, read-write."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        return duckdb.connect(str(path))
    return warehouse.connect(path)


def insert_orders(path: Path | warehouse.Warehouse, day: date, orders: list[dict]) -> None:
    """Insert raw.orders rows for `day` (missing fields get harmless defaults)."""
    rows = [
        (
            o["order_id"],
            o.get("customer_id", "CUST-00001"),
            day,
            o.get("total_amount", "10.00"),
            o.get("currency", "USD"),
            o.get("status", "delivered"),
            o.get("updated_at", datetime.combine(day, datetime.min.time())),
            day,
            o.get("etl_run_id", "crafted"),
            o.get("etl_loaded_at", LOADED_AT),
        )
        for o in orders
    ]
    with _connect(path) as conn:
        ensure_raw_schema(conn)
        conn.executemany(
            """INSERT INTO raw.orders (order_id, customer_id, order_date, total_amount, currency,
                 status, updated_at, partition_date, etl_run_id, etl_loaded_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )
        conn.execute(
            """INSERT INTO raw.customers SELECT 'CUST-00001', 'Ava Novak', 'Consumer',
                 DATE '2020-01-01', ?, 'crafted', ?""",
            [day, LOADED_AT],
        )


def upsert_users(path: Path | warehouse.Warehouse, users: list[tuple[str, str, str, str]]) -> None:
    """Replace raw.users with (user_id, email, address, status) rows, as a refresh does."""
    with _connect(path) as conn:
        ensure_raw_schema(conn)
        conn.execute("DELETE FROM raw.users")
        conn.executemany(
            """INSERT INTO raw.users (user_id, email, address, status, updated_at, etl_run_id,
                 etl_loaded_at) VALUES (?, ?, ?, ?, ?, 'crafted', ?)""",
            [(*u, LOADED_AT, LOADED_AT) for u in users],
        )
