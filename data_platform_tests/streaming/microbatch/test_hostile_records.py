"""A range holding hostile records (32,000 nested brackets, a year-1 time east of UTC, ...)
among valid ones, on several partitions, loads in ONE real micro-batch run: the hostile ones are
dead-lettered with a reason, every valid one is loaded, and the sensor plans nothing more."""

import json
from collections import Counter

import dagster as dg
import pytest

from data_platform.kafka import producer
from data_platform.orders import events as oe
from data_platform.orders.event_producer import ProducedRecord

pytestmark = pytest.mark.kafka


def _event(seq: int, **fields: object) -> bytes:
    doc = {
        "order_id": f"o-{seq}",
        "customer_id": f"c-{seq % 7}",
        "amount": 10.0 + seq,
        "currency": "USD",
        "event_time": "2024-03-01T10:15:00+00:00",
    }
    return json.dumps({**doc, **fields}, allow_nan=True).encode()


HOSTILE = {
    "brackets": (b"[" * 32_000, oe.NOT_JSON),
    "objects": (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, oe.NOT_JSON),
    "year_1_east": (_event(-1, event_time="0001-01-01T00:00:00+14:00"), oe.BAD_TIMESTAMP),
    "year_9999_west": (_event(-2, event_time="9999-12-31T23:59:59-14:00"), oe.BAD_TIMESTAMP),
    "surrogate": (_event(-3).replace(b'"o--3"', b'"\\udfff"'), oe.WRONG_TYPE),
    "huge_int": (_event(-4).replace(b"6.0", b"9" * 5000), oe.NOT_JSON),
}


def test_hostile_records_are_dead_lettered_and_every_valid_one_loads(
    kafka, harness_factory, warehouse
) -> None:
    records = []
    for seq in range(300):
        records.append(ProducedRecord(f"c-{seq % 7}".encode(), _event(seq), None))
        if seq % 50 == 0:  # each hostile kind lands among valid records, keys spread it around
            for key, (value, code) in HOSTILE.items():
                records.append(ProducedRecord(f"{key}-{seq}".encode(), value, code))
    sent = producer.produce(kafka.bounded_config(), kafka.orders_topic, records)
    assert len({p for p, _, r in sent if r.poison}) > 1  # hostile records on several partitions
    harness = harness_factory(max_records_per_batch=100_000)
    result = harness.tick()
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests
    run = harness.execute(request)
    assert run.success
    with warehouse.connect(read_only=True) as conn:
        loaded = conn.execute(
            'SELECT "partition", "offset", order_id FROM stream.orders_events'
        ).fetchall()
        dead = conn.execute(
            'SELECT "partition", "offset", error_code, error_message FROM stream.orders_dlq'
        ).fetchall()
    valid = {(p, o): r for p, o, r in sent if r.poison is None}
    hostile = {(p, o): r for p, o, r in sent if r.poison}
    assert {(p, o) for p, o, _ in loaded} == set(valid) and len(loaded) == 300
    assert {(p, o): code for p, o, code, _ in dead} == {k: r.poison for k, r in hostile.items()}
    messages = Counter(m.split(":")[0] for *_, m in dead)
    assert messages == {"value": 18, "field 'event_time'": 12, "field 'order_id'": 6}
    assert any("RecursionError" in m for *_, m in dead)
    assert any("OverflowError" in m for *_, m in dead)
    assert isinstance(harness.tick(), dg.SkipReason)  # nothing left to plan: no retry loop
