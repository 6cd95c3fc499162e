"""The warehouse: a DuckDB file or a DuckLake, lock-tolerant connections, the raw schema, and
atomic partition replacement.

Values always reach SQL as bound parameters or registered DataFrames. Table and column names come
only from the constant `TableSpec`s below (validated identifiers), never from input. The same SQL
runs on both backends, so it uses nothing DuckLake lacks: no PRIMARY KEY, UNIQUE or CHECK
constraints, no indexes, no ON CONFLICT; the writers keep rows unique themselves (delete+insert
of a day, MERGE, ledgers read inside the transaction).
"""

from __future__ import annotations

import logging
import os
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
from data_platform.paths import WAREHOUSE_ENV
from data_platform.warehouse.retry import (
    ConflictRetries,
    is_commit_conflict,
    retry_conflicts,
    rollback_quietly,
)
from data_platform.warehouse.sql import plain_ident, quote_ident, sql_literal
from data_platform.warehouse.target import (
    LAKE_ALIAS,
    FileWarehouse,
    LakeWarehouse,
    S3Settings,
    Warehouse,
    WarehouseConfigError,
    parse_warehouse,
    warehouse_env,
    warehouse_from_env,
)

__all__ = [
    "LAKE_ALIAS",
    "ConflictRetries",
    "FileWarehouse",
    "LakeWarehouse",
    "S3Settings",
    "Warehouse",
    "WarehouseConfigError",
    "is_commit_conflict",
    "parse_warehouse",
    "quote_ident",
    "retry_conflicts",
    "rollback_quietly",
    "sql_literal",
    "warehouse_env",
    "warehouse_from_env",
]

LOG = logging.getLogger(__name__)
UNPARTITIONED = "__all__"


class WarehouseLockTimeout(RuntimeError):
    """Another process held the DuckDB file for longer than the configured wait."""


class LakeUnavailable(RuntimeError):
    """The DuckLake catalog (PostgreSQL) or its data path could not be attached."""


def is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def as_warehouse(target: Warehouse | Path | str | None) -> Warehouse:
    """A parsed warehouse; a bare path or URI string is read with the environment's lake
    settings (data path, S3)."""
    if isinstance(target, FileWarehouse | LakeWarehouse):
        return target
    if target is None:
        return warehouse_from_env()
    if isinstance(target, Path):
        return FileWarehouse(target)
    return warehouse_from_env({**os.environ, WAREHOUSE_ENV: target})


def exists(target: Warehouse | Path | str | None) -> bool:
    """Whether the warehouse can hold tables yet (a lake always can: it is created on attach)."""
    resolved = as_warehouse(target)
    return resolved.is_lake or (isinstance(resolved, FileWarehouse) and resolved.path.exists())


@contextmanager
def connect(
    target: Warehouse | Path | str | None = None,
    read_only: bool = False,
    lock_timeout_seconds: float = 300.0,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse: a DuckDB file (waiting, with backoff, while another process holds its
    lock) or a DuckLake attached as the default catalog."""
    resolved = as_warehouse(target)
    conn = (
        _connect_lake(resolved, read_only)
        if isinstance(resolved, LakeWarehouse)
        else _connect_file(resolved.path, read_only, lock_timeout_seconds)
    )
    try:
        yield conn
    finally:
        conn.close()


def _connect_lake(
    lake: LakeWarehouse, read_only: bool, init_attempts: int = 8
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as the default catalog. The first attach of a
    new catalog creates its tables; processes that attach a new lake at once race there (one
    wins, the others hit PostgreSQL's duplicate keys), so that failure is retried."""
    for attempt in range(1, init_attempts + 1):
        conn = duckdb.connect()
        try:
            conn.execute("LOAD ducklake")
            conn.execute("LOAD postgres")
            if lake.s3 is not None:
                conn.execute("LOAD httpfs")
                conn.execute(lake.s3.secret_sql())
            conn.execute(lake.attach_sql(read_only))
            conn.execute(f"USE {LAKE_ALIAS}")
            return conn
        except duckdb.Error as exc:
            conn.close()
            text = str(exc)
            racing = "Failed to initialize DuckLake" in text and (
                "duplicate key" in text or "already exists" in text
            )
            if racing and attempt < init_attempts:
                LOG.info("another process is creating the lake's catalog; attaching again")
                time.sleep(0.2 * attempt)
                continue
            raise LakeUnavailable(f"cannot attach the DuckLake {lake.describe()}: {exc}") from None
    raise AssertionError("unreachable")


def _connect_file(
    path: Path, read_only: bool, lock_timeout_seconds: float
) -> duckdb.DuckDBPyConnection:
    if not read_only and str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_seconds
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
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


def transaction(conn: duckdb.DuckDBPyConnection) -> _Transaction:
    """`with transaction(conn):` BEGIN ... COMMIT, rolled back (quietly) on any error."""
    return _Transaction(conn)


class _Transaction:
    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self.conn.begin()
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            try:
                self.conn.commit()
            except BaseException:
                rollback_quietly(self.conn)
                raise
        else:
            rollback_quietly(self.conn)


def _ident(name: str) -> str:
    return plain_ident(name)


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

# One row per (run_id, asset_key, partition_key), kept unique by audit_start (delete + insert in
# one transaction) because DuckLake has no PRIMARY KEY; status is one of running, completed,
# failed (no CHECK constraint on DuckLake either).
META_DDL = (
    "CREATE SCHEMA IF NOT EXISTS meta",
    """CREATE TABLE IF NOT EXISTS meta.etl_runs (
        run_id VARCHAR NOT NULL,
        asset_key VARCHAR NOT NULL,
        partition_key VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        completed_at TIMESTAMP,
        rows_processed BIGINT,
        error_message VARCHAR
    )""",
)


def ensure_raw_schema(
    conn: duckdb.DuckDBPyConnection, stats: ConflictRetries | None = None
) -> None:
    """Create the raw and meta schemas and tables if missing (idempotent; on a lake, retried when
    another process created them at the same moment)."""

    def create() -> None:
        with transaction(conn):
            conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
            for spec in RAW_TABLES.values():
                conn.execute(spec.create_sql())
            for statement in META_DDL:
                conn.execute(statement)

    retry_conflicts(create, "create the raw schema", stats)


def one_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The row of a query that always returns one (an aggregate without GROUP BY)."""
    row = result.fetchone()
    if row is None:
        raise LookupError("expected one row, the query returned none")
    return row


def utcnow() -> datetime:
    """Naive UTC timestamp, as DuckDB TIMESTAMP columns store it."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


_AUDIT_KEY = "run_id = ? AND asset_key = ? AND partition_key = ?"


def audit_start(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    asset_key: str,
    partition_key: str,
    stats: ConflictRetries | None = None,
) -> None:
    """Mark the run's (asset, partition) 'running', replacing an earlier attempt's row."""

    def start() -> None:
        with transaction(conn):
            conn.execute(
                f"DELETE FROM meta.etl_runs WHERE {_AUDIT_KEY}",  # noqa: S608 - constant
                [run_id, asset_key, partition_key],
            )
            conn.execute(
                """INSERT INTO meta.etl_runs (run_id, asset_key, partition_key, status, started_at)
                   VALUES (?, ?, ?, 'running', ?)""",
                [run_id, asset_key, partition_key, utcnow()],
            )

    retry_conflicts(start, f"audit {asset_key} {partition_key}", stats)


def audit_fail(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    asset_key: str,
    partition_key: str,
    error: BaseException,
    stats: ConflictRetries | None = None,
) -> None:
    def fail() -> None:
        conn.execute(
            f"""UPDATE meta.etl_runs SET status = 'failed', completed_at = ?, error_message = ?
                WHERE {_AUDIT_KEY}""",  # noqa: S608 - constant
            [utcnow(), f"{type(error).__name__}: {error}", run_id, asset_key, partition_key],
        )

    retry_conflicts(fail, f"audit {asset_key} {partition_key}", stats)


def replace_partition(
    conn: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    frame: pd.DataFrame,
    run_id: str,
    asset_key: str,
    day: date | None,
    stats: ConflictRetries | None = None,
) -> int:
    """Replace one day (or, unpartitioned, the whole table) in ONE transaction, audited.

    The audit row goes to 'running' first (committed on its own so a crash leaves a trace),
    then delete + insert + 'completed' commit together; a commit conflict (another lake writer)
    re-runs that transaction; any other error rolls it back, the audit row says 'failed' with
    the error, and the exception propagates.
    """
    if spec.partitioned and day is None:
        raise ValueError(f"{spec.qualified} is partitioned: a day is required")
    partition_key = day.isoformat() if day is not None else UNPARTITIONED
    audit_start(conn, run_id, asset_key, partition_key, stats)
    view = f"incoming_{spec.name}"
    conn.register(view, frame[spec.source_columns])
    day_param = [day] if spec.partitioned else []

    def replace() -> None:
        with transaction(conn):
            conn.execute(spec.delete_sql(), day_param)
            fault_point("ingestion.after_delete")
            conn.execute(spec.insert_sql(view), [*day_param, run_id, utcnow()])
            conn.execute(
                f"""UPDATE meta.etl_runs SET status = 'completed', completed_at = ?,
                    rows_processed = ? WHERE {_AUDIT_KEY}""",  # noqa: S608 - constant
                [utcnow(), len(frame), run_id, asset_key, partition_key],
            )
            fault_point("ingestion.before_commit")

    try:
        retry_conflicts(replace, f"{spec.qualified} {partition_key}", stats)
    except BaseException as exc:
        audit_fail(conn, run_id, asset_key, partition_key, exc, stats)
        raise
    finally:
        conn.unregister(view)
    return len(frame)
