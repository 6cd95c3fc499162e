"""The `stream` schema in DuckDB: loaded order events, the dead-letter table and the offset ledger.

A micro-batch lands in ONE transaction (events + DLQ rows + ledger ranges), so an offset is
covered by the ledger exactly when its record is in `orders_events` or `orders_dlq`. Rows are
keyed by Kafka coordinates through that ledger: offsets it already covers are skipped, so a
range loaded twice changes nothing. No table has a PRIMARY KEY: DuckLake has none, and on the
file DuckDB's index made loading 200k events ~0.4 s slower and must be held in memory as the
table grows; the ledger, read inside the batch's transaction, keeps every offset unique.
Timestamps are TIMESTAMPTZ (UTC instants); `event_time` keeps the event's instant, not its zone.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pyarrow as pa

from data_platform import warehouse
from data_platform.faults import fault_point
from data_platform.kafka.ranges import PartitionRange
from data_platform.streaming.microbatch.order_batch import DLQ_SCHEMA, EVENT_SCHEMA
from data_platform.warehouse.sql import quote_ident

EVENTS = "stream.orders_events"
DLQ = "stream.orders_dlq"
LEDGER = "stream.kafka_offsets"

DDL = (
    "CREATE SCHEMA IF NOT EXISTS stream",
    f"""CREATE TABLE IF NOT EXISTS {EVENTS} (
        topic VARCHAR NOT NULL,
        "partition" INTEGER NOT NULL,
        "offset" BIGINT NOT NULL,
        order_id VARCHAR NOT NULL,
        customer_id VARCHAR NOT NULL,
        amount DOUBLE NOT NULL,
        currency VARCHAR NOT NULL,
        event_time TIMESTAMPTZ NOT NULL,
        kafka_timestamp TIMESTAMPTZ,
        run_id VARCHAR NOT NULL,
        loaded_at TIMESTAMPTZ NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {DLQ} (
        topic VARCHAR NOT NULL,
        "partition" INTEGER NOT NULL,
        "offset" BIGINT NOT NULL,
        "key" BLOB,
        headers VARCHAR,
        raw_headers STRUCT(name VARCHAR, value BLOB)[],
        payload BLOB,
        payload_text VARCHAR,
        error_code VARCHAR NOT NULL,
        error_message VARCHAR NOT NULL,
        kafka_timestamp TIMESTAMPTZ,
        ingested_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR NOT NULL,
        replayed_at TIMESTAMPTZ,
        published_at TIMESTAMPTZ
    )""",
    f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
        topic VARCHAR NOT NULL,
        "partition" INTEGER NOT NULL,
        start_offset BIGINT NOT NULL,
        end_offset BIGINT NOT NULL,
        run_id VARCHAR NOT NULL,
        committed_at TIMESTAMPTZ NOT NULL
    )""",
)

# Column order of the Arrow batches the validator builds (and of the INSERTs below).
EVENT_COLUMNS = tuple(EVENT_SCHEMA.names)
DLQ_COLUMNS = tuple(DLQ_SCHEMA.names)


def ensure_stream_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the stream schema and tables if missing (retried when another lake writer
    created them at the same moment)."""

    def create() -> None:
        with warehouse.transaction(conn):
            for statement in DDL:
                conn.execute(statement)
            _add_publish_columns(conn)

    warehouse.retry_conflicts(create, "create the stream schema")


def _add_publish_columns(conn: duckdb.DuckDBPyConnection) -> None:
    """Warehouses made before dead letters were published after the commit lack these columns;
    their rows were published when they were found, so they count as published."""
    present = {
        name
        for (name,) in conn.execute(
            """SELECT column_name FROM information_schema.columns
               WHERE table_schema = 'stream' AND table_name = 'orders_dlq'"""
        ).fetchall()
    }
    if "raw_headers" not in present:
        conn.execute(f"ALTER TABLE {DLQ} ADD COLUMN raw_headers STRUCT(name VARCHAR, value BLOB)[]")
    if "published_at" not in present:
        conn.execute(f"ALTER TABLE {DLQ} ADD COLUMN published_at TIMESTAMPTZ")
        conn.execute(f"UPDATE {DLQ} SET published_at = ingested_at")  # noqa: S608


@dataclass(frozen=True)
class LoadCounts:
    events_inserted: int
    dlq_inserted: int
    ranges_inserted: int


class BatchTransaction:
    """ONE DuckDB transaction for a micro-batch of `ranges`: event chunks are inserted as they
    arrive (on a worker thread, while the caller reads the next chunk: DuckDB releases the GIL
    while it inserts), the dead letters and ledger ranges at `commit`; nothing is visible to
    others before then, and any error or `abort` rolls the whole batch back. Offsets the ledger
    already covers (read inside the transaction) are skipped."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        topic: str,
        ranges: list[PartitionRange],
        run_id: str,
        now: datetime,
    ) -> None:
        self.conn, self.topic, self.ranges, self.run_id, self.now = conn, topic, ranges, run_id, now
        self.events_inserted = 0
        self._stamps: list[pa.ChunkedArray] = []  # Kafka times of the events inserted
        self._queue: queue.SimpleQueue[pa.Table | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None
        conn.begin()
        self.loaded = loaded_intervals(conn, topic, ranges)
        self._loaded_table = _ranges_table(self.loaded) if self.loaded else None

    def is_loaded(self, partition: int, offset: int) -> bool:
        return any(r.partition == partition and r.start <= offset < r.end for r in self.loaded)

    def insert_events(self, rows: pa.Table) -> None:
        """Queue a chunk of events for the worker; an insert error surfaces here or at commit."""
        self._raise_insert_error()
        if not rows.num_rows:
            return
        if self._worker is None:
            self._worker = threading.Thread(target=self._insert_queued, name="batch-inserts")
            self._worker.start()
        self._queue.put(rows)

    def commit(self, dead: pa.Table, read: list[PartitionRange] | None = None) -> LoadCounts:
        """Insert the dead letters and the ledger ranges (`read`: the ranges really covered,
        default the planned ones), then commit everything at once."""
        try:
            self._wait_for_inserts()
            self._raise_insert_error()
            dead_inserted = self._insert(DLQ, DLQ_COLUMNS, "ingested_at", self._not_loaded(dead))
            ledgered = 0
            for r in self.ranges if read is None else [r for r in read if r.size]:
                row = self.conn.execute(
                    f"""INSERT INTO {LEDGER} (topic, "partition", start_offset, end_offset,
                        run_id, committed_at)
                        SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (
                          SELECT 1 FROM {LEDGER} WHERE topic = ? AND "partition" = ?
                          AND start_offset = ? AND end_offset = ?)""",  # noqa: S608
                    [
                        self.topic,
                        r.partition,
                        r.start,
                        r.end,
                        self.run_id,
                        self.now,
                        self.topic,
                        r.partition,
                        r.start,
                        r.end,
                    ],
                ).fetchone()
                ledgered += int(row[0]) if row else 0
            fault_point("microbatch.before_warehouse_commit")
            self.conn.commit()
        except BaseException:
            warehouse.rollback_quietly(self.conn)
            raise
        return LoadCounts(self.events_inserted, dead_inserted, ledgered)

    def abort(self) -> None:
        self._wait_for_inserts()
        warehouse.rollback_quietly(self.conn)

    def _insert_queued(self) -> None:
        while (rows := self._queue.get()) is not None:
            if self._error is None:
                try:
                    fault_point("microbatch.insert_events")
                    rows = self._not_loaded(rows)
                    self.events_inserted += self._insert(EVENTS, EVENT_COLUMNS, "loaded_at", rows)
                    self._stamps.append(rows.column("kafka_timestamp"))
                except BaseException as exc:  # re-raised in the caller's thread
                    self._error = exc

    def _wait_for_inserts(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None

    def _raise_insert_error(self) -> None:
        if self._error is not None:
            raise self._error

    def latency(self, committed_at: datetime) -> BatchLatency:
        """Produce-to-commit latency of the events this transaction inserted, from the Kafka
        times kept in memory (querying the table would scan every event ever loaded)."""
        chunks = [c.cast(pa.int64()) for s in self._stamps for c in s.chunks]
        micros = pa.chunked_array(chunks, pa.int64()).drop_null().to_numpy()
        if not len(micros):
            return BatchLatency(None, None, None)
        if committed_at.tzinfo is None:  # naive is UTC here (`warehouse.utcnow`), not local time
            committed_at = committed_at.replace(tzinfo=UTC)
        seconds = (int(committed_at.timestamp() * 1_000_000) - micros) / 1_000_000
        median, p95 = np.percentile(seconds, [50, 95])  # linear, as SQL's quantile_cont
        return BatchLatency(*(round(float(v), 3) for v in (median, p95, seconds.max())))

    def _not_loaded(self, rows: pa.Table) -> pa.Table:
        """`rows` minus the offsets the ledger already covered (read when the batch began)."""
        if self._loaded_table is None or not rows.num_rows:
            return rows
        self.conn.register("loaded_ranges", self._loaded_table)
        self.conn.register("incoming_rows", rows)
        try:
            return self.conn.execute(
                f"SELECT * FROM incoming_rows AS i WHERE {_NOT_LOADED}"  # noqa: S608
            ).to_arrow_table()
        finally:
            self.conn.unregister("incoming_rows")
            self.conn.unregister("loaded_ranges")

    def _insert(self, table: str, columns: tuple[str, ...], stamp: str, rows: pa.Table) -> int:
        """INSERT the Arrow rows plus run id and stamp; returns the rows inserted."""
        if not rows.num_rows:
            return 0
        quoted = ", ".join(map(quote_ident, columns))
        self.conn.register("incoming_rows", rows)
        try:
            row = self.conn.execute(
                f"INSERT INTO {table} ({quoted}, run_id, {stamp}) "  # noqa: S608 - constant identifiers
                f"SELECT {quoted}, ?, ? FROM incoming_rows",
                [self.run_id, self.now],
            ).fetchone()
        finally:
            self.conn.unregister("incoming_rows")
        return int(row[0]) if row else 0


# Rows of `incoming_rows` (alias i) outside the ranges of `loaded_ranges` the ledger covered.
_NOT_LOADED = """NOT EXISTS (
    SELECT 1 FROM loaded_ranges AS l WHERE l."partition" = i."partition"
    AND i."offset" >= l.start_offset AND i."offset" < l.end_offset)"""


def _ranges_table(ranges: list[PartitionRange]) -> pa.Table:
    return pa.table(
        {
            "partition": pa.array([r.partition for r in ranges], pa.int32()),
            "start_offset": pa.array([r.start for r in ranges], pa.int64()),
            "end_offset": pa.array([r.end for r in ranges], pa.int64()),
        }
    )


def loaded_intervals(
    conn: duckdb.DuckDBPyConnection, topic: str, ranges: list[PartitionRange]
) -> list[PartitionRange]:
    """The parts of `ranges` the ledger already covers (loaded by an earlier batch)."""
    covered: list[PartitionRange] = []
    for r in ranges:
        rows = conn.execute(
            f"""SELECT greatest(start_offset, ?), least(end_offset, ?) FROM {LEDGER}
                WHERE topic = ? AND "partition" = ? AND start_offset < ? AND end_offset > ?
                ORDER BY 1""",  # noqa: S608
            [r.start, r.end, topic, r.partition, r.end, r.start],
        ).fetchall()
        covered.extend(PartitionRange(r.partition, start, end) for start, end in rows)
    return covered


def ledger_rows(conn: duckdb.DuckDBPyConnection, topic: str) -> list[tuple[int, int, int]]:
    """(partition, start, end) of every range loaded for `topic`."""
    ensure_stream_schema(conn)
    return conn.execute(
        f"""SELECT "partition", start_offset, end_offset FROM {LEDGER}
            WHERE topic = ? ORDER BY 1, 2, 3""",  # noqa: S608
        [topic],
    ).fetchall()


class BatchLatency(NamedTuple):
    """Seconds from each record's Kafka timestamp to its warehouse commit, over one batch."""

    median_s: float | None
    p95_s: float | None
    max_s: float | None


class LedgerUnavailable(RuntimeError):
    """The warehouse is locked by another process (e.g. a running batch) right now."""


def read_ledger_nowait(path: warehouse.Warehouse | Path, topic: str) -> list[tuple[int, int, int]]:
    """The ledger without waiting for another process's lock (the sensor must not block).

    A missing warehouse or table is an empty ledger; a held lock raises LedgerUnavailable.
    """
    if not warehouse.exists(path):
        return []
    try:
        with warehouse.connect(path, read_only=True, lock_timeout_seconds=0.5) as conn:
            exists = conn.execute(
                """SELECT COUNT(*) FROM information_schema.tables
                   WHERE table_schema = 'stream' AND table_name = 'kafka_offsets'"""
            ).fetchone()
            if not exists or not exists[0]:
                return []
            return conn.execute(
                f"""SELECT "partition", start_offset, end_offset FROM {LEDGER}
                    WHERE topic = ? ORDER BY 1, 2, 3""",  # noqa: S608
                [topic],
            ).fetchall()
    except (warehouse.WarehouseLockTimeout, warehouse.LakeUnavailable, duckdb.IOException) as exc:
        raise LedgerUnavailable(str(exc)) from exc


def unpublished_nowait(path: warehouse.Warehouse | Path, topic: str) -> int:
    """How many committed dead letters of `topic` wait for the DLQ topic (0 when the warehouse
    is locked or older than the column: the next batch publishes them anyway)."""
    if not warehouse.exists(path):
        return 0
    try:
        with warehouse.connect(path, read_only=True, lock_timeout_seconds=0.5) as conn:
            row = conn.execute(
                f"""SELECT COUNT(*) FROM {DLQ} WHERE topic = ? AND published_at IS NULL""",  # noqa: S608
                [topic],
            ).fetchone()
    except (warehouse.WarehouseLockTimeout, warehouse.LakeUnavailable, duckdb.Error):
        return 0
    return int(row[0]) if row else 0


def forget_topic(conn: duckdb.DuckDBPyConnection, topic: str) -> dict[str, int]:
    """Delete a topic's events, dead letters and ledger in one transaction (a recreated topic's
    offsets restart at 0, so the old rows would shadow the new records)."""
    ensure_stream_schema(conn)
    deleted = {}
    conn.begin()
    try:
        for table in (EVENTS, DLQ, LEDGER):
            row = conn.execute(f"DELETE FROM {table} WHERE topic = ?", [topic]).fetchone()  # noqa: S608
            deleted[table] = int(row[0]) if row else 0
        conn.commit()
    except BaseException:
        warehouse.rollback_quietly(conn)
        raise
    return deleted


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    payload: bytes | None
    headers: str | None
    error_code: str
    raw_headers: list[dict[str, Any]] | None = None
    error_message: str = ""
    kafka_timestamp: datetime | None = None

    def original_headers(self) -> list[tuple[str, bytes | None]]:
        """The record's own headers as they were (from the readable JSON for old rows)."""
        if self.raw_headers is not None:
            return [(h["name"], h["value"]) for h in self.raw_headers]
        return [(k, None if v is None else v.encode()) for k, v in json.loads(self.headers or "[]")]


def unpublished(conn: duckdb.DuckDBPyConnection, topic: str) -> list[DeadLetter]:
    """Dead letters of `topic` committed but not yet on the DLQ topic, in offset order."""
    rows = conn.execute(
        f"""SELECT topic, "partition", "offset", "key", payload, headers, error_code,
                   raw_headers, error_message, kafka_timestamp
            FROM {DLQ} WHERE topic = ? AND published_at IS NULL
            ORDER BY 2, 3""",  # noqa: S608
        [topic],
    ).fetchall()
    return [DeadLetter(*row) for row in rows]


def mark_published(
    conn: duckdb.DuckDBPyConnection, letters: list[DeadLetter], now: datetime
) -> int:
    """Stamp published_at for dead letters the DLQ topic acknowledged."""
    return _stamp(conn, letters, "published_at", now)


def replayable(
    conn: duckdb.DuckDBPyConnection,
    reason: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[DeadLetter]:
    """Dead letters not replayed yet, oldest first, optionally by reason and ingestion time."""
    ensure_stream_schema(conn)
    rows = conn.execute(
        f"""SELECT topic, "partition", "offset", "key", payload, headers, error_code, raw_headers
            FROM {DLQ}
            WHERE replayed_at IS NULL AND (?::VARCHAR IS NULL OR error_code = ?)
              AND (?::TIMESTAMPTZ IS NULL OR ingested_at >= ?)
            ORDER BY ingested_at, topic, "partition", "offset"
            LIMIT ?""",  # noqa: S608
        [reason, reason, since, since, limit if limit is not None else 2**62],
    ).fetchall()
    return [DeadLetter(*row) for row in rows]


def mark_replayed(conn: duckdb.DuckDBPyConnection, letters: list[DeadLetter], now: datetime) -> int:
    """Stamp replayed_at (only where still unset) for the given dead letters, atomically."""
    return _stamp(conn, letters, "replayed_at", now)


def _stamp(
    conn: duckdb.DuckDBPyConnection, letters: list[DeadLetter], column: str, now: datetime
) -> int:
    """Set `column` (a constant of this module) where still unset, for the given dead letters."""
    if column not in ("published_at", "replayed_at"):
        raise ValueError(f"not a stamp column of {DLQ}: {column!r}")
    if not letters:
        return 0
    keys = pa.table(
        {
            "topic": [d.topic for d in letters],
            "partition": pa.array([d.partition for d in letters], pa.int32()),
            "offset": pa.array([d.offset for d in letters], pa.int64()),
        }
    )
    conn.register("stamped_keys", keys)

    def stamp() -> int:
        row = conn.execute(
            f"""UPDATE {DLQ} AS d SET {column} = ? FROM stamped_keys AS k
                WHERE d.topic = k.topic AND d."partition" = k."partition"
                  AND d."offset" = k."offset" AND d.{column} IS NULL""",  # noqa: S608
            [now],
        ).fetchone()
        return int(row[0]) if row else 0

    try:
        return warehouse.retry_conflicts(stamp, f"stamp {column}")
    finally:
        conn.unregister("stamped_keys")
