"""A micro-batch's warehouse transaction on a real DuckDB file: the latency it reports is the
one SQL computes over the rows it committed, and offsets an earlier batch loaded are neither
inserted again nor counted in it."""

import time
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from data_platform.kafka.ranges import PartitionRange
from data_platform.streaming.microbatch import order_batch, stream_store

COMMITTED_AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _events(offsets: list[int], lags_s: list[float | None]) -> pa.Table:
    batch = order_batch.SplitBatch()
    for offset, lag in zip(offsets, lags_s, strict=True):
        stamp = (
            -1 if lag is None else int((COMMITTED_AT - timedelta(seconds=lag)).timestamp() * 1000)
        )
        row = {"topic": "orders", "partition": 0, "offset": offset, "order_id": f"o-{offset}",
               "customer_id": "c-1", "amount": 1.0, "currency": "EUR",
               "event_time": COMMITTED_AT, "kafka_timestamp": stamp}  # fmt: skip
        for name, value in row.items():
            batch.events[name].append(value)
    return batch.drain_events()


def _load(conn: duckdb.DuckDBPyConnection, start: int, rows: pa.Table, run_id: str):
    end = start + rows.num_rows
    transaction = stream_store.BatchTransaction(
        conn, "orders", [PartitionRange(0, start, end)], run_id, COMMITTED_AT
    )
    transaction.insert_events(rows)
    counts = transaction.commit(order_batch.SplitBatch().dead_table())
    return counts, transaction.latency(COMMITTED_AT)


def test_latency_is_the_committed_rows_quantiles_and_skips_loaded_offsets(tmp_path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        stream_store.ensure_stream_schema(conn)
        lags = [1.0, 2.5, 4.0, None, 30.0]
        counts, latency = _load(conn, 0, _events([0, 1, 2, 3, 4], lags), "first")
        assert counts.events_inserted == 5
        expected = conn.execute(
            f"""SELECT quantile_cont(s, 0.5), quantile_cont(s, 0.95), max(s) FROM (
                SELECT epoch(?::TIMESTAMPTZ - kafka_timestamp) AS s FROM {stream_store.EVENTS}
                WHERE run_id = 'first' AND kafka_timestamp IS NOT NULL)""",
            [COMMITTED_AT],
        ).fetchone()
        assert latency == tuple(round(v, 3) for v in expected) == (3.25, 26.1, 30.0)

        # A batch over offsets 3-7: 3 and 4 are loaded already, so only 5-7 count.
        counts, latency = _load(conn, 3, _events([3, 4, 5, 6, 7], [99, 99, 5, 6, 7]), "second")
        assert counts.events_inserted == 3
        assert latency == (6.0, 6.9, 7.0)

        # Nothing new: no latency to report.
        counts, latency = _load(conn, 5, _events([5, 6, 7], [1, 1, 1]), "third")
        assert counts.events_inserted == 0
        assert latency == (None, None, None)


def test_latency_reads_a_naive_commit_time_as_utc_whatever_the_local_zone(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader passes `warehouse.utcnow()`, a naive UTC time; on a machine whose zone is not
    UTC, reading it as local time would shift every latency by the zone's offset."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
            stream_store.ensure_stream_schema(conn)
            transaction = stream_store.BatchTransaction(
                conn, "orders", [PartitionRange(0, 0, 2)], "naive", COMMITTED_AT
            )
            transaction.insert_events(_events([0, 1], [1.0, 3.0]))
            transaction.commit(order_batch.SplitBatch().dead_table())
            aware = transaction.latency(COMMITTED_AT)
            assert transaction.latency(COMMITTED_AT.replace(tzinfo=None)) == aware
            assert aware == (2.0, 2.9, 3.0)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_kafka_times_keep_every_instant_a_calendar_holds_and_drop_the_rest() -> None:
    """-1 (no timestamp) and a time past year 9999 (any int64 is a valid Kafka timestamp) are
    absent, not an overflow that fails the whole batch."""
    last_ms = int(datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp() * 1000)
    column = order_batch.kafka_times([-1, 0, 1_765_115_691_708, last_ms, last_ms + 1, 2**62])
    assert column.to_pylist() == [
        None,
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2025, 12, 7, 13, 54, 51, 708000, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        None,
        None,
    ]
