"""The `stream` schema in DuckDB: loaded order events, the dead-letter table and the offset ledger.

A micro-batch lands in ONE transaction (events + DLQ rows + ledger ranges). Every table is keyed
by Kafka coordinates and rows already present are skipped: a range loaded twice changes nothing.
Timestamps are TIMESTAMPTZ (UTC instants); `event_time` keeps the event's instant, not its zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from data_platform.lib import order_events as oe
from data_platform.lib import warehouse
from data_platform.lib.faults import fault_point
from data_platform.lib.kafka_offsets import PartitionRange
from data_platform.lib.order_batch import DLQ_SCHEMA, EVENT_SCHEMA, SplitBatch, split_records
from data_platform.lib.order_events_sql import FAST_PATH_SQL, raw_chunk

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
        loaded_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (topic, "partition", "offset")
    )""",
    f"""CREATE TABLE IF NOT EXISTS {DLQ} (
        topic VARCHAR NOT NULL,
        "partition" INTEGER NOT NULL,
        "offset" BIGINT NOT NULL,
        "key" BLOB,
        headers VARCHAR,
        payload BLOB,
        payload_text VARCHAR,
        error_code VARCHAR NOT NULL,
        error_message VARCHAR NOT NULL,
        kafka_timestamp TIMESTAMPTZ,
        ingested_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR NOT NULL,
        replayed_at TIMESTAMPTZ,
        PRIMARY KEY (topic, "partition", "offset")
    )""",
    f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
        topic VARCHAR NOT NULL,
        "partition" INTEGER NOT NULL,
        start_offset BIGINT NOT NULL,
        end_offset BIGINT NOT NULL,
        run_id VARCHAR NOT NULL,
        committed_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (topic, "partition", start_offset, end_offset)
    )""",
)

# Column order of the Arrow batches the validator builds (and of the INSERTs below).
EVENT_COLUMNS = tuple(EVENT_SCHEMA.names)
DLQ_COLUMNS = tuple(DLQ_SCHEMA.names)


def ensure_stream_schema(conn: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        conn.execute(statement)


@dataclass(frozen=True)
class LoadCounts:
    events_inserted: int
    dlq_inserted: int
    ranges_inserted: int


def _insert(
    conn: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], stamp: str, view: str,
    extra: list[object],
) -> int:  # fmt: skip
    """INSERT the registered Arrow view plus run id and stamp; returns rows actually inserted.

    Rows whose Kafka coordinates are already present are skipped through the primary-key index
    (cost independent of the table's size)."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    sql = (
        f"INSERT INTO {table} ({quoted}, run_id, {stamp}) "  # noqa: S608 - constant identifiers
        f"SELECT {quoted}, ?, ? FROM {view} ON CONFLICT DO NOTHING"
    )
    row = conn.execute(sql, extra).fetchone()
    return int(row[0]) if row else 0


_QUOTED_EVENT_COLUMNS = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
_ACCEPTED_COLUMNS = ", ".join(f'"{c}"' for c in EVENT_COLUMNS if c != "topic")
_INSERT_ACCEPTED = (  # the fast path's accepted rows; the topic is bound per batch
    f"INSERT INTO {EVENTS} ({_QUOTED_EVENT_COLUMNS}, run_id, loaded_at) "  # noqa: S608 - constants
    f"SELECT ?, {_ACCEPTED_COLUMNS}, ?, ? FROM accepted ON CONFLICT DO NOTHING"
)


class BatchTransaction:
    """ONE DuckDB transaction for a micro-batch: records are validated and inserted in large
    chunks, nothing is visible to others before `commit`, and any error or `abort` rolls the
    whole batch back.

    With `fast_path`, validation runs first as a vectorised DuckDB query (a stricter check that
    only accepts) and the few records it does not accept go through the reference Python
    validator, which names the reason; without it (the default) every record goes through the
    Python validator. Everything runs in the caller's thread: a worker thread here would fight the
    Kafka reader for the GIL and slow both down (measured).
    """

    CHUNK_RECORDS = 50_000

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        topic: str,
        run_id: str,
        now: datetime,
        max_bytes: int = oe.DEFAULT_MAX_RECORD_BYTES,
        fast_path: bool = False,
    ) -> None:
        self.conn, self.topic, self.run_id, self.now = conn, topic, run_id, now
        self.max_bytes, self.fast_path = max_bytes, fast_path
        self.batch = SplitBatch()
        self.events_inserted = 0
        self._pending: list = []
        conn.begin()

    def add_records(self, records: list) -> None:
        """Buffer kafka-python records; validated and inserted a large chunk at a time."""
        self._pending.extend(records)
        if len(self._pending) >= self.CHUNK_RECORDS:
            self._flush()

    def drain(self) -> SplitBatch:
        """Process what is buffered; the batch then holds counts and the dead letters."""
        self._flush()
        return self.batch

    def commit(self, ranges: list[PartitionRange]) -> LoadCounts:
        try:
            self._flush()
            dead = self._insert_view(DLQ, DLQ_COLUMNS, "ingested_at", self.batch.dead_table())
            ledgered = 0
            for r in ranges:
                row = self.conn.execute(
                    f"""INSERT INTO {LEDGER} (topic, "partition", start_offset, end_offset,
                        run_id, committed_at) VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT DO NOTHING""",  # noqa: S608
                    [self.topic, r.partition, r.start, r.end, self.run_id, self.now],
                ).fetchone()
                ledgered += int(row[0]) if row else 0
            fault_point("microbatch.before_warehouse_commit")
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        return LoadCounts(self.events_inserted, dead, ledgered)

    def abort(self) -> None:
        self.conn.rollback()

    def _flush(self) -> None:
        records, self._pending = self._pending, []
        if records:
            self._process(records)

    def _process(self, records: list) -> None:
        if not self.fast_path:  # reference validator only
            split_records(records, self.max_bytes, self.batch)
            self._insert_leftovers()
            return
        conn = self.conn
        conn.register("raw_chunk", raw_chunk(records))
        try:
            conn.execute(
                f"CREATE OR REPLACE TEMP TABLE accepted AS {FAST_PATH_SQL}",
                {"max_bytes": self.max_bytes},
            )
            row = conn.execute(_INSERT_ACCEPTED, [self.topic, self.run_id, self.now]).fetchone()
            self.events_inserted += int(row[0]) if row else 0
            rejected = conn.execute(
                "SELECT idx FROM raw_chunk ANTI JOIN accepted USING (idx) ORDER BY idx"
            ).fetchall()
        finally:
            conn.unregister("raw_chunk")
        self.batch.drained += len(records) - len(rejected)
        split_records([records[i] for (i,) in rejected], self.max_bytes, self.batch)
        self._insert_leftovers()

    def _insert_leftovers(self) -> None:
        leftovers = self.batch.drain_events()
        if leftovers.num_rows:
            self.events_inserted += self._insert_view(EVENTS, EVENT_COLUMNS, "loaded_at", leftovers)

    def _insert_view(self, table: str, columns: tuple[str, ...], stamp: str, rows: pa.Table) -> int:
        self.conn.register("incoming_rows", rows)
        try:
            return _insert(
                self.conn, table, columns, stamp, "incoming_rows", [self.run_id, self.now]
            )
        finally:
            self.conn.unregister("incoming_rows")


def load_batch(
    conn: duckdb.DuckDBPyConnection,
    topic: str,
    ranges: list[PartitionRange],
    records: list,
    run_id: str,
    now: datetime,
    max_bytes: int = oe.DEFAULT_MAX_RECORD_BYTES,
) -> tuple[LoadCounts, SplitBatch]:
    """Validate and load kafka-python records and the ledger ranges in one transaction."""
    ensure_stream_schema(conn)
    transaction = BatchTransaction(conn, topic, run_id, now, max_bytes)
    transaction.add_records(records)
    batch = transaction.drain()
    return transaction.commit(ranges), batch


def ledger_rows(conn: duckdb.DuckDBPyConnection, topic: str) -> list[tuple[int, int, int]]:
    """(partition, start, end) of every range loaded for `topic`."""
    ensure_stream_schema(conn)
    return conn.execute(
        f"""SELECT "partition", start_offset, end_offset FROM {LEDGER}
            WHERE topic = ? ORDER BY 1, 2, 3""",  # noqa: S608
        [topic],
    ).fetchall()


def dead_letter_coordinates(
    conn: duckdb.DuckDBPyConnection, topic: str, ranges: list[PartitionRange]
) -> set[tuple[int, int]]:
    """(partition, offset) of dead letters already stored for these ranges: a re-run of a range
    must not publish them to the DLQ topic again."""
    found: set[tuple[int, int]] = set()
    for r in ranges:
        rows = conn.execute(
            f"""SELECT "partition", "offset" FROM {DLQ}
                WHERE topic = ? AND "partition" = ? AND "offset" >= ? AND "offset" < ?""",  # noqa: S608
            [topic, r.partition, r.start, r.end],
        ).fetchall()
        found.update((p, o) for p, o in rows)
    return found


class LedgerUnavailable(RuntimeError):
    """The warehouse is locked by another process (e.g. a running batch) right now."""


def read_ledger_nowait(path: Path, topic: str) -> list[tuple[int, int, int]]:
    """The ledger without waiting for another process's lock (the sensor must not block).

    A missing warehouse or table is an empty ledger; a held lock raises LedgerUnavailable.
    """
    if not path.exists():
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
    except (warehouse.WarehouseLockTimeout, duckdb.IOException) as exc:
        raise LedgerUnavailable(str(exc)) from exc


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
        conn.rollback()
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


def replayable(
    conn: duckdb.DuckDBPyConnection,
    reason: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[DeadLetter]:
    """Dead letters not replayed yet, oldest first, optionally by reason and ingestion time."""
    ensure_stream_schema(conn)
    rows = conn.execute(
        f"""SELECT topic, "partition", "offset", "key", payload, headers, error_code
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
    if not letters:
        return 0
    keys = pa.table(
        {
            "topic": [d.topic for d in letters],
            "partition": pa.array([d.partition for d in letters], pa.int32()),
            "offset": pa.array([d.offset for d in letters], pa.int64()),
        }
    )
    conn.register("replayed_keys", keys)
    try:
        row = conn.execute(
            f"""UPDATE {DLQ} AS d SET replayed_at = ? FROM replayed_keys AS k
                WHERE d.topic = k.topic AND d."partition" = k."partition"
                  AND d."offset" = k."offset" AND d.replayed_at IS NULL""",  # noqa: S608
            [now],
        ).fetchone()
    finally:
        conn.unregister("replayed_keys")
    return int(row[0]) if row else 0
