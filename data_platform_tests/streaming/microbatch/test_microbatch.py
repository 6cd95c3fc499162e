"""The micro-batch path end to end on the real broker and a temp DuckDB warehouse."""

import json
from collections import Counter

import dagster as dg
import pytest
from kafka import KafkaProducer

from data_platform.kafka import client
from data_platform.kafka import producer as kafka_producer
from data_platform.kafka.ranges import PartitionRange
from data_platform.orders import event_producer
from data_platform.orders import events as oe
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource

pytestmark = pytest.mark.kafka


def produce(kafka: KafkaResource, count: int, invalid_rate: float = 0.0, seed: int = 0):
    records = event_producer.generate(count, invalid_rate=invalid_rate, seed=seed)
    return kafka_producer.produce(kafka.bounded_config(), kafka.orders_topic, records)


def table_count(warehouse: WarehouseResource, table: str) -> int:
    with warehouse.connect(read_only=True) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def read_topic(kafka: KafkaResource, topic: str) -> list:
    config = kafka.librdkafka_config()
    marks = client.probe_end_offsets(config, topic, None, 5)
    reader = client.RangeReader(
        config, topic, [PartitionRange(p, 0, hw) for p, hw in marks.items()]
    )
    records = [client.record_of(m) for chunk in reader for m in chunk]
    return sorted(records, key=lambda r: (r.partition, r.offset))


def test_sensor_yields_run_request_with_ranges(kafka, harness_factory) -> None:
    sent = produce(kafka, 300)
    per_partition = Counter(p for p, _, _ in sent)
    result = harness_factory(max_records_per_batch=10_000).tick()
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests
    ranges = request.run_config["ops"]["orders_microbatch"]["config"]["ranges"]
    assert {r["partition"]: (r["start"], r["end"]) for r in ranges} == {
        p: (0, n) for p, n in per_partition.items()
    }
    expected_key = (
        kafka.orders_topic
        + " "
        + " ".join(f"{p}:[0,{n})" for p, n in sorted(per_partition.items()))
    )
    assert request.run_key == expected_key
    assert request.tags["data_platform/kafka_topic"] == kafka.orders_topic
    assert request.tags["data_platform/kafka_ranges"] == expected_key.split(" ", 1)[1]


def test_10k_with_poison_all_accounted_for(kafka, harness_factory, warehouse) -> None:
    sent = produce(kafka, 10_000, invalid_rate=0.02, seed=1)
    expected_poison = {(p, o): r.poison for p, o, r in sent if r.poison}
    assert len(expected_poison) == 200
    runs = harness_factory(max_records_per_batch=4_000).drain()
    assert len(runs) == 3
    assert table_count(warehouse, "stream.orders_events") + table_count(
        warehouse, "stream.orders_dlq"
    ) == len(sent)
    with warehouse.connect(read_only=True) as conn:
        dlq = conn.execute(
            'SELECT "partition", "offset", error_code, error_message, payload, payload_text, '
            '"key" FROM stream.orders_dlq'
        ).fetchall()
    assert {(p, o): code for p, o, code, *_ in dlq} == expected_poison
    assert {code for _, _, code, *_ in dlq} == set(oe.ERROR_CODES)
    originals = {(p, o): r for p, o, r in sent}
    for p, o, code, message, payload, text, key in dlq:
        assert payload == originals[(p, o)].value and key == originals[(p, o)].key
        assert message and (text is None) == (code in (oe.TOMBSTONE, oe.NOT_UTF8))
    dlq_topic = read_topic(kafka, kafka.dlq_topic)
    assert len(dlq_topic) == 200
    by_source = {
        (int(dict(r.headers)["dlq.source_partition"]), int(dict(r.headers)["dlq.source_offset"])): (
            dict(r.headers)["dlq.error_code"].decode(),
            r.value,
        )
        for r in dlq_topic
    }
    assert {k: code for k, (code, _) in by_source.items()} == expected_poison
    assert all(value == originals[k].value for k, (_, value) in by_source.items())
    check_results = [
        e.asset_check_evaluation_data
        for run in runs
        for e in run.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert {c.check_name for c in check_results} == {
        "required_fields",
        "offsets_contiguous",
        "dlq_rate",
    }
    assert all(c.passed for c in check_results if c.check_name == "offsets_contiguous")
    assert all(c.passed for c in check_results if c.check_name == "dlq_rate")  # 2% < 5%
    assert not any(c.passed for c in check_results if c.check_name == "required_fields")
    # Each batch reports its produce-to-commit latency for the UI's plots, and the figures are
    # ordered and bounded by the time this test has been running.
    for run in runs:
        metadata = run.asset_materializations_for_node("orders_microbatch")[0].metadata
        median, p95, worst = (metadata[f"latency_{n}_s"].value for n in ("median", "p95", "max"))
        assert 0 <= median <= p95 <= worst < 600, (median, p95, worst)


def test_a_record_that_cannot_be_stored_is_dead_lettered_not_retried_forever(
    kafka, harness_factory, warehouse
) -> None:
    """`"\\ud800"` is valid JSON to Python's decoder but cannot be stored as UTF-8: it must reach
    the DLQ with its reason, not fail every attempt at the batch."""
    good = json.dumps({"order_id": "o-1", "customer_id": "c-1", "amount": 5.0,
                       "currency": "EUR", "event_time": "2024-03-01T10:15:00Z"})  # fmt: skip
    bad = good.replace('"o-1"', '"o-\\ud800"')
    producer = KafkaProducer(**kafka.bounded_config())
    for value in (good, bad, good.replace("o-1", "o-2")):
        producer.send(kafka.orders_topic, key=b"c-1", value=value.encode())
    producer.flush()
    producer.close()
    harness_factory().drain()
    assert table_count(warehouse, "stream.orders_events") == 2
    with warehouse.connect(read_only=True) as conn:
        ((code, message, text),) = conn.execute(
            "SELECT error_code, error_message, payload_text FROM stream.orders_dlq"
        ).fetchall()
    assert code == oe.WRONG_TYPE and "'order_id'" in message and text == bad
