"""The DuckDB fast path never accepts what the reference validator rejects, and agrees on values."""

import json
from collections import namedtuple

import duckdb
import pytest

from data_platform.lib import event_producer
from data_platform.lib import order_events as oe
from data_platform.lib.order_events_sql import FAST_PATH_SQL, raw_chunk

Record = namedtuple("Record", "topic partition offset timestamp key value headers")

BASE = {"order_id": "o-1", "customer_id": "c-1", "amount": 12.5, "currency": "USD",
        "event_time": "2024-03-01T10:15:00+01:00"}  # fmt: skip
EDGE_CASES = [
    b'{"order_id": "o", "customer_id": "c", "amount": 1, "currency": "USD", '
    b'"event_time": "2024-03-01T10:15:00Z",}',  # trailing comma: DuckDB accepts, Python not
    b'{"order_id": "o", "customer_id": "c", "amount": 1, "amount": -1, "currency": "USD", '
    b'"event_time": "2024-03-01T10:15:00Z"}',  # duplicate key: first wins in DuckDB
    json.dumps({**BASE, "amount": float("nan")}).encode(),
    json.dumps({**BASE, "amount": -0.0}).encode(),
    json.dumps({**BASE, "amount": 10**30}).encode(),
    json.dumps({**BASE, "amount": 1e-7}).encode(),
    json.dumps({**BASE, "amount": 2.5e3}).encode(),
    json.dumps({**BASE, "order_id": "\u3000"}).encode(),
    json.dumps({**BASE, "order_id": "\t"}).encode(),
    json.dumps({**BASE, "order_id": "ü"}).encode(),
    json.dumps({**BASE, "customer_id": 5}).encode(),
    json.dumps({**BASE, "event_time": "2024-03-01 10:15:00+00:00"}).encode(),
    json.dumps({**BASE, "event_time": "2024-03-01t10:15:00+00:00"}).encode(),
    json.dumps({**BASE, "event_time": "2024-02-30T10:15:00+00:00"}).encode(),
    json.dumps({**BASE, "event_time": "2024-03-01T10:15:00.1234567+00:00"}).encode(),
    json.dumps({**BASE, "event_time": "2024-03-01T10:15:00+24:00"}).encode(),
    json.dumps({**BASE, "event_time": "2024-03-01T10:15:60+00:00"}).encode(),
    json.dumps({**BASE, "event_time": "2024-03-01T10:15:00-05:30"}).encode(),
    json.dumps({**BASE, "event_time": "2024-03-01T10:15:00.5Z"}).encode(),
    json.dumps({**BASE, "extra": {"amount": -1, "nested": [1, 2]}}).encode(),
    json.dumps({**BASE, "amount": True}).encode(),
    json.dumps([BASE]).encode(),
    b'{"order_id": "o\\u0000x", "customer_id": "c", "amount": 1, "currency": "USD", '
    b'"event_time": "2024-03-01T10:15:00Z"}',
    '{"order_id": "é"}'.encode("latin-1"),
    b"",
    None,
]


def _fast_path(values: list[bytes | None], max_bytes: int = oe.DEFAULT_MAX_RECORD_BYTES):
    records = [Record("t", 0, i, 1_700_000_000_000, None, v, []) for i, v in enumerate(values)]
    with duckdb.connect() as conn:
        conn.register("raw_chunk", raw_chunk(records))
        rows = conn.execute(FAST_PATH_SQL, {"max_bytes": max_bytes}).fetchall()
    return {row[0]: row for row in rows}


def _agrees(values: list[bytes | None]) -> int:
    accepted = _fast_path(values)
    for idx, (_, _, _, order_id, customer_id, amount, currency, event_time, _) in accepted.items():
        reference = oe.validate_value(values[idx])
        assert isinstance(reference, oe.OrderEvent), (values[idx], reference)
        assert (order_id, customer_id, currency) == (
            reference.order_id, reference.customer_id, reference.currency)  # fmt: skip
        assert amount == reference.amount
        assert event_time == reference.event_time, values[idx]
    return len(accepted)


def test_fast_path_accepts_generated_valid_events_and_no_poison() -> None:
    records = list(event_producer.generate(3_000, invalid_rate=0.1, late_rate=0.2, seed=4))
    accepted = _agrees([r.value for r in records])
    assert accepted == sum(1 for r in records if r.poison is None)


@pytest.mark.parametrize("value", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_fast_path_never_accepts_what_python_rejects(value: bytes | None) -> None:
    _agrees([value])


def test_size_limit_applies_on_the_fast_path() -> None:
    value = json.dumps(BASE).encode()
    assert _fast_path([value], max_bytes=len(value) - 1) == {}


@pytest.mark.parametrize("fast_path", [False, True])
def test_batch_transaction_loads_the_same_rows_with_or_without_the_fast_path(
    tmp_path, fast_path: bool
) -> None:
    """The run-config switch `vectorised_validation` changes speed, never the loaded rows."""
    from datetime import datetime

    from data_platform.lib import stream_store
    from data_platform.lib.kafka_offsets import PartitionRange

    values = [r.value for r in event_producer.generate(2_000, invalid_rate=0.1, seed=9)]
    records = [Record("t", 0, i, 1_700_000_000_000, b"k", v, []) for i, v in enumerate(values)]
    now = datetime(2024, 3, 1, 12, 0)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        stream_store.ensure_stream_schema(conn)
        tx = stream_store.BatchTransaction(conn, "t", "run", now, fast_path=fast_path)
        tx.add_records(records)
        tx.drain()
        counts = tx.commit([PartitionRange(0, 0, len(records))])
        events = conn.execute(
            'SELECT "offset", order_id, amount, event_time FROM stream.orders_events ORDER BY 1'
        ).fetchall()
        dead = conn.execute(
            'SELECT "offset", error_code FROM stream.orders_dlq ORDER BY 1'
        ).fetchall()
    expected_dead = [
        (i, result.code)
        for i, v in enumerate(values)
        if isinstance(result := oe.validate_value(v), oe.EventError)
    ]
    assert dead == expected_dead
    assert counts.events_inserted + len(dead) == len(records)
    assert [row[0] for row in events] == [
        i for i in range(len(values)) if i not in {d for d, _ in expected_dead}
    ]
