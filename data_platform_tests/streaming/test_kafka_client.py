"""The librdkafka data path against the real broker: exact ranges, true end offsets, fast and
clear failures, TLS and SASL through a secured front."""

import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from data_platform.kafka import client
from data_platform.kafka.admin import ensure_topics
from data_platform.kafka.local_broker import LocalBroker, free_port
from data_platform.kafka.ranges import PartitionRange
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform_tests.streaming.secure_proxy import SecureProxy, self_signed_certificate

pytestmark = pytest.mark.kafka


def _send(config: dict, topic: str, count: int, seed: int = 0) -> None:
    producer = Producer({**config, "linger.ms": 5})
    for i in range(count):
        producer.produce(
            topic,
            partition=i % 2,
            key=None if i % 4 == 0 else f"k{i}".encode(),
            value=None if i % 9 == 0 and i % 4 else f"value-{seed}-{i}".encode() * (1 + i % 50),
            headers=[("trace", f"{i}".encode()), ("empty", b""), ("null", None)]
            if i % 3 == 0
            else None,
        )
    assert producer.flush(10) == 0


def _rows(messages) -> list[tuple]:
    return [
        (m.partition(), m.offset(), m.timestamp(), m.key(), m.value(), m.headers())
        for m in messages
    ]


def _read(config: dict, topic: str, ranges: list[PartitionRange]) -> list[tuple]:
    return _rows(m for chunk in client.RangeReader(config, topic, ranges, 5) for m in chunk)


@pytest.fixture
def topic(kafka_broker: LocalBroker) -> Iterator[tuple[dict, str]]:
    resource = KafkaResource(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        orders_topic=f"client-{uuid.uuid4().hex[:8]}",
        orders_partitions=2,
    )
    resource.ensure_topics()
    yield resource.librdkafka_config(), resource.orders_topic


def test_exact_ranges_hold_what_a_plain_consumer_returns(topic) -> None:
    config, name = topic
    _send(config, name, 2_000)
    ranges = [PartitionRange(0, 137, 911), PartitionRange(1, 0, 1_000)]
    got = _read(config, name, ranges)
    consumer = Consumer({**config, "group.id": "plain", "enable.auto.commit": False})
    expected = []
    for r in ranges:
        consumer.assign([TopicPartition(name, r.partition, r.start)])
        while len([e for e in expected if e[0] == r.partition]) < r.size:
            expected += [
                row for row in _rows(consumer.consume(500, 1.0)) if row[1] < r.end
            ]  # fmt: skip
    consumer.close()
    assert sorted(got) == sorted(expected)
    assert [o for p, o, *_ in got if p == 0] == list(range(137, 911))  # offset order
    assert any(h and ("null", None) in h for *_, h in got)  # a null header value survives


def test_end_offsets_are_the_true_ones(topic) -> None:
    config, name = topic
    for seed in range(3):  # several produce batches: ListOffsets(latest) under-reports these
        _send(config, name, 300, seed)
    assert client.probe_end_offsets(config, name, {0: 440, 1: 0}, 5) == {0: 450, 1: 450}
    reader = client.RangeReader(config, name, [PartitionRange(0, 0, 1), PartitionRange(1, 0, 1)])
    assert sum(len(chunk) for chunk in reader) == 2
    assert reader.highwaters == {0: 450, 1: 450}


def test_a_range_past_the_end_finishes_at_the_end_of_the_log(topic) -> None:
    """The readable end (the last stable offset) cuts a range short instead of waiting: what
    the ledger records is what was read, and the rest is planned again later."""
    config, name = topic
    _send(config, name, 20)
    started = time.monotonic()
    reader = client.RangeReader(config, name, [PartitionRange(0, 0, 15)], idle_timeout_s=5)
    assert sum(len(chunk) for chunk in reader) == 10
    assert reader.read == [PartitionRange(0, 0, 10)]
    assert time.monotonic() - started < 5


def test_an_unreachable_broker_fails_fast() -> None:
    config = KafkaResource(bootstrap_servers=f"127.0.0.1:{free_port()}").librdkafka_config()
    started = time.monotonic()
    with pytest.raises(client.BrokerUnavailable, match="no bootstrap server reachable"):
        list(client.RangeReader(config, "orders", [PartitionRange(0, 0, 5)], idle_timeout_s=1))
    with pytest.raises(client.BrokerUnavailable, match="no bootstrap server reachable"):
        client.probe_end_offsets(config, "orders", None, 1)
    assert time.monotonic() - started < 5


def test_a_missing_topic_is_named(kafka_broker: LocalBroker) -> None:
    config = KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers).librdkafka_config()
    with pytest.raises(client.BrokerUnavailable, match="does not exist"):
        client.probe_end_offsets(config, f"missing-{uuid.uuid4().hex[:6]}", None, 3)


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[KafkaResource, SecureProxy]]:
    """A broker reachable only through a TLS + SASL/PLAIN front (user alice)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = self_signed_certificate(directory)
    listen = socket.create_server(("127.0.0.1", 0))
    front = listen.getsockname()[1]
    broker = LocalBroker(log_path=directory / "broker.log", advertised_port=front)
    with broker:
        proxy = SecureProxy(listen, ("127.0.0.1", broker.port), cert, key, ("alice", "s3cret"))
        resource = KafkaResource(
            bootstrap_servers=f"127.0.0.1:{front}",
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_username="alice",
            sasl_password="s3cret",
            ssl_cafile=str(cert),
        )
        yield resource, proxy
        listen.close()


def test_tls_and_sasl_plain(secured) -> None:
    resource, _ = secured
    ensure_topics(resource.bounded_config(), {"secured": 2})  # kafka-python, same settings
    config = resource.librdkafka_config()
    _send(config, "secured", 100)
    got = _read(config, "secured", [PartitionRange(0, 0, 50), PartitionRange(1, 10, 50)])
    assert len(got) == 90


def test_wrong_credentials_are_refused(secured) -> None:
    resource, proxy = secured
    rejected = proxy.rejected_logins
    config = {**resource.librdkafka_config(), "sasl.password": "nope"}
    with pytest.raises(client.BrokerUnavailable, match=r"(?i)auth"):
        list(client.RangeReader(config, "secured", [PartitionRange(0, 0, 1)], idle_timeout_s=3))
    assert proxy.rejected_logins > rejected


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(
        st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), max_size=30), max_size=6
    ),
    starts=st.tuples(*[st.integers(0, 20)] * 3),
    sizes=st.tuples(*[st.integers(0, 40)] * 3),
)
def test_a_whole_chunk_is_kept_exactly_as_message_by_message(chunks, starts, sizes) -> None:
    """Consumed chunks (partitions interleaved, offsets rising per partition with gaps, some
    before the range start or past its end) keep the same messages and leave the same
    positions through the whole-chunk path as through the loop over every message."""
    ranges = [PartitionRange(p, starts[p], starts[p] + sizes[p]) for p in range(3)]
    next_offset = {p: max(0, starts[p] - 3) for p in range(3)}
    consumed = []
    for chunk in chunks:
        messages = []
        for partition, gap in chunk:
            offset = next_offset[partition] = next_offset[partition] + gap + 1
            messages.append(Message(topic="t", partition=partition, offset=offset, value=b"v"))
        consumed.append(messages)

    def read(whole_chunks: bool) -> tuple[list[list[tuple[int, int]]], dict[int, int]]:
        reader = client.RangeReader({}, "t", ranges)
        positions = {r.partition: r.start for r in ranges if r.size}
        ends = {r.partition: r.end for r in ranges if r.size}
        kept = []
        for messages in consumed:
            if not positions:
                break
            if not whole_chunks:  # an event in the chunk sends it down the message loop
                messages = [*messages, Message(topic="t", error=KafkaError(KafkaError._NO_OFFSET))]
            kept.append(
                [
                    (m.partition(), m.offset())
                    for m in reader._take(None, messages, positions, ends)
                    if m.error() is None
                ]
            )
        return kept, positions

    assert read(True) == read(False)
