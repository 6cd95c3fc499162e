"""What producers really write, through the whole micro-batch path on the real broker: every
compression codec from both Python clients, transactions, tombstones, null keys, headers,
records near the size limit, and batches the client cannot decode. Each valid record loads
once, each poison record is dead-lettered (and published) once, and the stream moves on."""

import json
import re
import socket
import struct
import time
from collections import Counter

import pytest
from confluent_kafka import Producer
from crc32c import crc32c
from kafka import KafkaProducer
from kafka.protocol.producer import ProduceRequest, ProduceResponse
from kafka.record import MemoryRecordsBuilder

from data_platform.faults import FAULTS_ENV
from data_platform.orders import event_producer
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch.order_batch import UNDECODABLE_BATCH
from data_platform_tests.streaming.microbatch.test_microbatch import read_topic

pytestmark = pytest.mark.kafka
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def _send_confluent(kafka: KafkaResource, records, codec: str) -> None:
    producer = Producer({**kafka.librdkafka_config(), "compression.type": codec, "linger.ms": 20})
    for r in records:
        producer.produce(kafka.orders_topic, key=r.key, value=r.value)
    assert producer.flush(30) == 0


def _send_kafka_python(kafka: KafkaResource, records, codec: str) -> None:
    producer = KafkaProducer(
        compression_type=None if codec == "none" else codec,
        linger_ms=20,
        **kafka.bounded_config(),
    )
    for r in records:
        producer.send(kafka.orders_topic, key=r.key, value=r.value)
    producer.flush(30)
    producer.close()


def _warehouse_rows(warehouse, table: str) -> list[tuple]:
    with warehouse.connect(read_only=True) as conn:
        return conn.execute(f'SELECT "partition", "offset" FROM {table}').fetchall()


def _assert_exactly_once(kafka, warehouse, valid: int, poison: int) -> None:
    events = _warehouse_rows(warehouse, "stream.orders_events")
    dead = _warehouse_rows(warehouse, "stream.orders_dlq")
    assert len(events) == len(set(events)) == valid
    assert len(dead) == len(set(dead)) == poison
    published = Counter(
        (dict(r.headers)["dlq.source_partition"], dict(r.headers)["dlq.source_offset"])
        for r in read_topic(kafka, kafka.dlq_topic)
    )
    assert len(published) == poison and set(published.values()) <= {1}


@pytest.mark.parametrize("producer", ["confluent-kafka", "kafka-python"])
@pytest.mark.parametrize("codec", CODECS)
def test_every_codec_loads_exactly_once(kafka, harness_factory, warehouse, producer, codec):
    records = list(event_producer.generate(600, invalid_rate=0.05, seed=7))
    send = _send_confluent if producer == "confluent-kafka" else _send_kafka_python
    send(kafka, records, codec)
    harness_factory().drain()
    poison = sum(1 for r in records if r.poison)
    _assert_exactly_once(kafka, warehouse, len(records) - poison, poison)


def test_a_topic_mixing_codecs_loads_every_batch(kafka, harness_factory, warehouse) -> None:
    records = list(event_producer.generate(900, invalid_rate=0.02, seed=3))
    for i, codec in enumerate(["none", "gzip", "snappy", "none", "lz4", "zstd"]):
        _send_confluent(kafka, records[i * 150 : (i + 1) * 150], codec)
    harness_factory().drain()
    poison = sum(1 for r in records if r.poison)
    _assert_exactly_once(kafka, warehouse, len(records) - poison, poison)


def test_transaction_markers_never_reach_the_warehouse(kafka, harness_factory, warehouse):
    """Control records (commit/abort markers) take offsets but are never loaded, dead-lettered
    or left as a gap. The local broker does not filter aborted records even for read_committed
    readers (real Kafka does), so here aborted records may load; committed ones must."""
    producer = Producer({**kafka.librdkafka_config(), "transactional.id": kafka.consumer_group})
    producer.init_transactions()
    docs = list(event_producer.generate(30, seed=11))
    for part, abort in ((docs[:10], False), (docs[10:20], True), (docs[20:], False)):
        producer.begin_transaction()
        for r in part:
            producer.produce(kafka.orders_topic, key=r.key, value=r.value, partition=0)
        producer.flush(10)  # on the broker before the marker, also for the aborted one
        producer.abort_transaction() if abort else producer.commit_transaction()
    harness = harness_factory()
    harness.drain()
    with warehouse.connect(read_only=True) as conn:
        loaded = conn.execute(
            'SELECT order_id FROM stream.orders_events ORDER BY "offset"'
        ).fetchall()
        dead = conn.execute("SELECT COUNT(*) FROM stream.orders_dlq").fetchone()[0]
        ledger = conn.execute(
            'SELECT start_offset, end_offset FROM stream.kafka_offsets WHERE "partition" = 0'
        ).fetchall()
    ids = [i for (i,) in loaded]
    committed = [json.loads(r.value)["order_id"] for r in docs[:10] + docs[20:]]
    assert set(committed) <= set(ids) and len(ids) == len(set(ids))
    assert dead == 0  # the three markers are not records
    assert ledger[0][0] == 0 and ledger[-1][1] == 33  # 30 records + 3 markers, no gap
    assert "no new records" in harness.tick().skip_message  # the markers are not re-planned


def test_tombstones_null_keys_headers_and_big_records(kafka, harness_factory, warehouse):
    good = next(iter(event_producer.generate(1, seed=5)))
    producer = Producer({**kafka.librdkafka_config(), "message.max.bytes": 2_000_000})
    cases = [
        (None, None, None),  # a tombstone with a null key
        (b"k", None, [("trace", b"1"), ("nothing", None)]),  # a tombstone with headers
        (None, good.value, [("null-valued", None)]),  # a valid event, null key, odd header
        (b"big", b"x" * 900_000, [("size", b"900k")]),  # near the broker's limit
    ]
    for key, value, headers in cases:
        producer.produce(kafka.orders_topic, key=key, value=value, headers=headers, partition=1)
    assert producer.flush(10) == 0
    harness_factory().drain()
    with warehouse.connect(read_only=True) as conn:
        events = conn.execute("SELECT COUNT(*) FROM stream.orders_events").fetchone()[0]
        reasons = conn.execute(
            'SELECT error_code FROM stream.orders_dlq ORDER BY "offset"'
        ).fetchall()
    assert events == 1
    assert [r for (r,) in reasons] == ["tombstone", "tombstone", "oversized"]
    published = {
        int(dict(r.headers)["dlq.source_offset"]): r for r in read_topic(kafka, kafka.dlq_topic)
    }
    assert published[0].key is None and published[0].value is None
    assert ("nothing", None) in published[1].headers and ("trace", b"1") in published[1].headers
    assert published[3].value == b"x" * 900_000


def _batch(values: list[bytes], codec: int = 0) -> bytearray:
    builder = MemoryRecordsBuilder(magic=2, compression_type=codec, batch_size=1 << 20)
    for value in values:
        builder.append(timestamp=int(time.time() * 1000), key=None, value=value, headers=[])
    builder.close()
    return bytearray(builder.buffer())


def _set_codec_and_fix_crc(batch: bytearray, codec: int) -> bytearray:
    """Claim another codec in the attributes (the data stays as it is) and re-sign the batch."""
    (attributes,) = struct.unpack_from(">h", batch, 21)
    struct.pack_into(">h", batch, 21, (attributes & ~7) | codec)
    struct.pack_into(">I", batch, 17, crc32c(bytes(batch[21:])))
    return batch


def _produce_raw(port: int, topic: str, batch: bytes) -> int:
    """One ProduceRequest (v8) with a hand-made record batch; returns the partition error code."""
    topic_data = ProduceRequest.TopicProduceData
    request = ProduceRequest(
        transactional_id=None,
        acks=-1,
        timeout_ms=5000,
        topic_data=[topic_data(name=topic, partition_data=[
            topic_data.PartitionProduceData(index=0, records=bytes(batch))])],
    )  # fmt: skip
    request.with_header(correlation_id=1, client_id="raw-test")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request.encode(version=8, header=True, framed=True))
        size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
        payload = sock.recv(size, socket.MSG_WAITALL)
    response = ProduceResponse.decode(payload, version=8, header=True)
    return response.responses[0].partition_responses[0].error_code


def test_an_undecodable_batch_is_dead_lettered_and_the_stream_moves_on(
    kafka, kafka_broker, harness_factory, warehouse
) -> None:
    docs = [r.value for r in event_producer.generate(12, seed=2)]
    topic, port = kafka.orders_topic, kafka_broker.port
    crc_broken = _batch(docs[3:6])
    crc_broken[-1] ^= 0xFF  # the CRC no longer matches
    garbage = _set_codec_and_fix_crc(_batch(docs[6:9]), 1)  # "gzip" that is not gzip
    for batch in (_batch(docs[:3]), crc_broken, garbage):
        assert _produce_raw(port, topic, batch) == 0  # the broker accepts all of them
    # An unknown codec id (5) is refused at produce time, yet this broker still appends the
    # batch (offset 9): librdkafka passes over it without a record or an error.
    assert _produce_raw(port, topic, _set_codec_and_fix_crc(_batch([b"{}"]), 5)) != 0
    assert _produce_raw(port, topic, _batch(docs[9:])) == 0
    harness = harness_factory()
    runs = harness.drain()
    assert runs and all(run.success for run in runs)
    with warehouse.connect(read_only=True) as conn:
        events = conn.execute('SELECT "offset" FROM stream.orders_events ORDER BY 1').fetchall()
        dead = conn.execute(
            'SELECT "offset", error_code, error_message FROM stream.orders_dlq ORDER BY 1'
        ).fetchall()
    assert [o for (o,) in events] == [0, 1, 2, 10, 11, 12]
    # One dead letter per skipped span; adjacent bad batches may be skipped as one span.
    assert dead and {code for _, code, _ in dead} == {UNDECODABLE_BATCH}
    spans = [re.search(r"offsets \[(\d+), (\d+)\)", message).groups() for *_, message in dead]
    covered = [o for a, b in spans for o in range(int(a), int(b))]
    assert covered == list(range(3, 9)) and dead[0][0] == 3
    assert "CRC" in dead[0][2]
    assert "no new records" in harness.tick().skip_message


@pytest.mark.parametrize(
    "fault", ["microbatch.before_warehouse_commit", "microbatch.after_warehouse_commit"]
)
def test_dead_letters_are_published_once_across_retries(
    kafka, harness_factory, warehouse, monkeypatch, fault
) -> None:
    records = list(event_producer.generate(300, invalid_rate=0.1, seed=9))
    _send_confluent(kafka, records, "snappy")
    harness = harness_factory()
    (request,) = harness.tick().run_requests
    monkeypatch.setenv(FAULTS_ENV, fault)
    assert not harness.execute(request).success
    assert not harness.execute(request).success  # a retry fails the same way
    monkeypatch.delenv(FAULTS_ENV)
    harness.drain()
    poison = sum(1 for r in records if r.poison)
    _assert_exactly_once(kafka, warehouse, len(records) - poison, poison)
