"""Warehouse side of the Spark window aggregates: idempotent upsert + ledger of applied batches.

Spark's update mode emits, per micro-batch, the ABSOLUTE running aggregate of every window that
changed. Each batch is applied in ONE DuckDB transaction: upsert those rows and record
`(query_id, batch_id)` in the ledger. A batch Spark re-delivers (crash after the DuckDB commit but
before Spark's checkpoint commit) finds its ledger row and changes nothing; even without the
ledger, re-applying absolute values could not double count.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from data_platform.faults import fault_point
from data_platform.warehouse import one_row, rollback_quietly, utcnow

TABLE = "stream.order_window_aggregates"
LEDGER = "stream.order_window_batches"
SOURCES = "stream.order_window_sources"
WINDOW_COLUMNS = ["window_start", "window_end", "customer_id", "order_count", "total_amount"]

DDL = (
    "CREATE SCHEMA IF NOT EXISTS stream",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        window_start TIMESTAMP NOT NULL,
        window_end TIMESTAMP NOT NULL,
        customer_id VARCHAR NOT NULL,
        order_count BIGINT NOT NULL,
        total_amount DECIMAL(18, 2) NOT NULL,
        updated_at TIMESTAMP NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
        query_id VARCHAR NOT NULL,
        batch_id BIGINT NOT NULL,
        windows_upserted BIGINT NOT NULL,
        events_aggregated BIGINT NOT NULL,
        committed_at TIMESTAMP NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {SOURCES} (
        checkpoint VARCHAR NOT NULL,
        topic VARCHAR NOT NULL,
        topic_id VARCHAR NOT NULL,
        recorded_at TIMESTAMP NOT NULL
    )""",
)

_EVENTS_AGGREGATED = f"""
    SELECT COALESCE(SUM(b.order_count - COALESCE(t.order_count, 0)), 0)
    FROM incoming_windows b
    LEFT JOIN {TABLE} t ON t.window_start = b.window_start AND t.customer_id = b.customer_id
"""  # noqa: S608 - constant identifiers
# MERGE, not ON CONFLICT: DuckLake has no primary keys, and the batch's windows are unique.
_UPSERT = f"""
    MERGE INTO {TABLE} AS t
    USING (SELECT *, ?::TIMESTAMP AS updated_at FROM incoming_windows) AS b
    ON t.window_start = b.window_start AND t.customer_id = b.customer_id
    WHEN MATCHED THEN UPDATE SET
        window_end = b.window_end,
        order_count = b.order_count,
        total_amount = b.total_amount,
        updated_at = b.updated_at
    WHEN NOT MATCHED THEN INSERT (window_start, window_end, customer_id, order_count,
                                  total_amount, updated_at)
        VALUES (b.window_start, b.window_end, b.customer_id, b.order_count, b.total_amount,
                b.updated_at)
"""  # noqa: S608 - constant identifiers


@dataclass(frozen=True)
class WindowBatchOutcome:
    """What one micro-batch did: `applied` is False for an already-ledgered (replayed) batch."""

    batch_id: int
    applied: bool
    windows_upserted: int
    events_aggregated: int


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        conn.execute(statement)


def ledgered(
    conn: duckdb.DuckDBPyConnection, query_id: str, batch_id: int
) -> WindowBatchOutcome | None:
    row = conn.execute(
        f"SELECT windows_upserted, events_aggregated FROM {LEDGER} "  # noqa: S608 - constant
        "WHERE query_id = ? AND batch_id = ?",
        [query_id, batch_id],
    ).fetchone()
    return None if row is None else WindowBatchOutcome(batch_id, False, row[0], row[1])


def apply_batch(
    conn: duckdb.DuckDBPyConnection, query_id: str, batch_id: int, windows: pd.DataFrame
) -> WindowBatchOutcome:
    """Upsert one micro-batch's window rows and ledger it, atomically; a replay is a no-op.

    `events_aggregated` (new minus stored counts) is how many events this batch added to
    windows: the input events it did NOT add were dropped as late by Spark's watermark.
    """
    ensure_schema(conn)
    duplicated = windows.duplicated(["window_start", "customer_id"])
    if duplicated.any():
        raise ValueError(f"batch {batch_id}: a window appears twice: {windows[duplicated].head(3)}")
    conn.begin()
    try:
        previous = ledgered(conn, query_id, batch_id)
        if previous is not None:
            rollback_quietly(conn)
            return previous
        conn.register("incoming_windows", windows[WINDOW_COLUMNS])
        events = int(one_row(conn.execute(_EVENTS_AGGREGATED))[0])
        conn.execute(_UPSERT, [utcnow()])
        conn.execute(
            f"INSERT INTO {LEDGER} VALUES (?, ?, ?, ?, ?)",  # noqa: S608 - constant identifier
            [query_id, batch_id, len(windows), events, utcnow()],
        )
        fault_point("windows.before_commit")
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    finally:
        conn.unregister("incoming_windows")
    return WindowBatchOutcome(batch_id, True, len(windows), events)


def ledger_rows(conn: duckdb.DuckDBPyConnection, query_id: str) -> dict[int, WindowBatchOutcome]:
    rows = conn.execute(
        f"SELECT batch_id, windows_upserted, events_aggregated FROM {LEDGER} "  # noqa: S608
        "WHERE query_id = ?",
        [query_id],
    ).fetchall()
    return {r[0]: WindowBatchOutcome(r[0], False, r[1], r[2]) for r in rows}


def recorded_topic_id(conn: duckdb.DuckDBPyConnection, checkpoint: str) -> str | None:
    """The Kafka topic id the checkpoint's offsets refer to (None before the first run)."""
    ensure_schema(conn)
    row = conn.execute(
        f"SELECT topic_id FROM {SOURCES} WHERE checkpoint = ?",  # noqa: S608 - constant
        [checkpoint],
    ).fetchone()
    return None if row is None else row[0]


def record_topic(
    conn: duckdb.DuckDBPyConnection, checkpoint: str, topic: str, topic_id: str, reset: bool
) -> None:
    """Remember the topic behind a checkpoint; `reset` also forgets every window and batch, in
    the same transaction, because a re-created topic starts a new history."""
    ensure_schema(conn)
    conn.begin()
    try:
        if reset:
            conn.execute(f"DELETE FROM {TABLE}")  # noqa: S608 - constant identifier
            conn.execute(f"DELETE FROM {LEDGER}")  # noqa: S608 - constant identifier
        conn.execute(f"DELETE FROM {SOURCES} WHERE checkpoint = ?", [checkpoint])  # noqa: S608
        conn.execute(
            f"INSERT INTO {SOURCES} VALUES (?, ?, ?, ?)",  # noqa: S608 - constant
            [checkpoint, topic, topic_id, utcnow()],
        )
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
