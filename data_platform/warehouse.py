"""DuckDB warehouse: lock-tolerant connections, the raw schema, and atomic partition replacement.

Values always reach SQL as bound parameters or registered DataFrames. Table and column names come
only from the constant `TableSpec`s below (validated identifiers), never from input.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:  # frames arrive from the caller: pandas is not imported at definitions load
    import pandas as pd

from data_platform.faults import fault_point

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
UNPARTITIONED = "__all__"


class WarehouseLockTimeout(RuntimeError):
    """Another process held the DuckDB file for longer than the configured wait."""


def is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


@contextmanager
def connect(
    path: Path | str, read_only: bool = False, lock_timeout_seconds: float = 300.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting (with backoff) while another process holds the file lock."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_seconds
    delay = 0.05
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLockTimeout(
                    f"warehouse {path} stayed locked by another process for "
                    f"{lock_timeout_seconds:.0f}s: {exc}"
                ) from exc
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 2.0)
    try:
        yield conn
    finally:
        conn.close()


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


@dataclass(frozen=True)
class TableSpec:
    """A warehouse table: `schema.name`, its source columns with types, and how it is replaced."""

    schema: str
    name: str
    columns: tuple[tuple[str, str], ...]
    partitioned: bool = True

    @property
    def qualified(self) -> str:
        return f"{_ident(self.schema)}.{_ident(self.name)}"

    @property
    def source_columns(self) -> list[str]:
        return [_ident(c) for c, _ in self.columns]

    def create_sql(self) -> str:
        cols = [f"{_ident(c)} {t}" for c, t in self.columns]
        if self.partitioned:
            cols.append("partition_date DATE NOT NULL")
        cols += ["etl_run_id VARCHAR NOT NULL", "etl_loaded_at TIMESTAMP NOT NULL"]
        return f"CREATE TABLE IF NOT EXISTS {self.qualified} ({', '.join(cols)})"

    def delete_sql(self) -> str:
        where = " WHERE partition_date = ?" if self.partitioned else ""
        return f"DELETE FROM {self.qualified}{where}"  # noqa: S608 - constant identifiers

    def insert_sql(self, frame_view: str) -> str:
        """INSERT from a registered DataFrame view; the partition date and run info are bound."""
        cols = self.source_columns
        target = [*cols, *(["partition_date"] if self.partitioned else []), "etl_run_id",
                  "etl_loaded_at"]  # fmt: skip
        select = [*cols, *(["?::DATE"] if self.partitioned else []), "?", "?::TIMESTAMP"]
        return (
            f"INSERT INTO {self.qualified} ({', '.join(target)}) "  # noqa: S608 - constant identifiers
            f"SELECT {', '.join(select)} FROM {_ident(frame_view)}"
        )


RAW_TABLES: dict[str, TableSpec] = {
    "orders": TableSpec(
        "raw",
        "orders",
        (
            ("order_id", "VARCHAR NOT NULL"),
            ("customer_id", "VARCHAR"),
            ("order_date", "DATE"),
            ("total_amount", "VARCHAR"),
            ("currency", "VARCHAR"),
            ("status", "VARCHAR"),
            ("updated_at", "TIMESTAMP"),
        ),
    ),
    "order_items": TableSpec(
        "raw",
        "order_items",
        (
            ("order_id", "VARCHAR NOT NULL"),
            ("product_id", "VARCHAR"),
            ("quantity", "INTEGER"),
            ("unit_price", "DECIMAL(18,2)"),
            ("order_date", "DATE"),
        ),
    ),
    "customers": TableSpec(
        "raw",
        "customers",
        (
            ("customer_id", "VARCHAR NOT NULL"),
            ("customer_name", "VARCHAR"),
            ("customer_segment", "VARCHAR"),
            ("signup_date", "DATE"),
        ),
    ),
    "users": TableSpec(
        "raw",
        "users",
        (
            ("user_id", "VARCHAR NOT NULL"),
            ("email", "VARCHAR"),
            ("address", "VARCHAR"),
            ("status", "VARCHAR"),
            ("updated_at", "TIMESTAMP"),
        ),
        partitioned=False,
    ),
}

META_DDL = (
    "CREATE SCHEMA IF NOT EXISTS meta",
    """CREATE TABLE IF NOT EXISTS meta.etl_runs (
        run_id VARCHAR NOT NULL,
        asset_key VARCHAR NOT NULL,
        partition_key VARCHAR NOT NULL,
        status VARCHAR NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
        started_at TIMESTAMP NOT NULL,
        completed_at TIMESTAMP,
        rows_processed BIGINT,
        error_message VARCHAR,
        PRIMARY KEY (run_id, asset_key, partition_key)
    )""",
)


def ensure_raw_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the raw and meta schemas and tables if missing (idempotent)."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for spec in RAW_TABLES.values():
        conn.execute(spec.create_sql())
    for statement in META_DDL:
        conn.execute(statement)


def one_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The row of a query that always returns one (an aggregate without GROUP BY)."""
    row = result.fetchone()
    if row is None:
        raise LookupError("expected one row, the query returned none")
    return row


def utcnow() -> datetime:
    """Naive UTC timestamp, as DuckDB TIMESTAMP columns store it."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def audit_start(
    conn: duckdb.DuckDBPyConnection, run_id: str, asset_key: str, partition_key: str
) -> None:
    conn.execute(
        """INSERT INTO meta.etl_runs (run_id, asset_key, partition_key, status, started_at)
           VALUES (?, ?, ?, 'running', ?)
           ON CONFLICT (run_id, asset_key, partition_key) DO UPDATE SET
             status = 'running', started_at = excluded.started_at,
             completed_at = NULL, rows_processed = NULL, error_message = NULL""",
        [run_id, asset_key, partition_key, utcnow()],
    )


def audit_fail(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    asset_key: str,
    partition_key: str,
    error: BaseException,
) -> None:
    conn.execute(
        """UPDATE meta.etl_runs SET status = 'failed', completed_at = ?, error_message = ?
           WHERE run_id = ? AND asset_key = ? AND partition_key = ?""",
        [utcnow(), f"{type(error).__name__}: {error}", run_id, asset_key, partition_key],
    )


def replace_partition(
    conn: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    frame: pd.DataFrame,
    run_id: str,
    asset_key: str,
    day: date | None,
) -> int:
    """Replace one day (or, unpartitioned, the whole table) in ONE transaction, audited.

    The audit row goes to 'running' first (committed on its own so a crash leaves a trace),
    then delete + insert + 'completed' commit together; on any error the transaction is rolled
    back, the audit row says 'failed' with the error, and the exception propagates.
    """
    if spec.partitioned and day is None:
        raise ValueError(f"{spec.qualified} is partitioned: a day is required")
    partition_key = day.isoformat() if day is not None else UNPARTITIONED
    audit_start(conn, run_id, asset_key, partition_key)
    view = f"incoming_{spec.name}"
    conn.register(view, frame[spec.source_columns])
    try:
        conn.begin()
        day_param = [day] if spec.partitioned else []
        conn.execute(spec.delete_sql(), day_param)
        fault_point("ingestion.after_delete")
        conn.execute(spec.insert_sql(view), [*day_param, run_id, utcnow()])
        conn.execute(
            """UPDATE meta.etl_runs SET status = 'completed', completed_at = ?, rows_processed = ?
               WHERE run_id = ? AND asset_key = ? AND partition_key = ?""",
            [utcnow(), len(frame), run_id, asset_key, partition_key],
        )
        fault_point("ingestion.before_commit")
        conn.commit()
    except BaseException as exc:
        conn.rollback()
        audit_fail(conn, run_id, asset_key, partition_key, exc)
        raise
    finally:
        conn.unregister(view)
    return len(frame)
