"""The micro-batch's range reader against the real broker: exact ranges, the same records
kafka-python's consumer returns, true high watermarks, clear failures; TLS and SASL through a
secured front."""

import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from data_platform.lib.kafka_io import ensure_topics
from data_platform.lib.kafka_offsets import PartitionRange
from data_platform.lib.kafka_wire import BrokerUnavailable, RangeFetcher
from data_platform.lib.local_broker import LocalBroker, free_port
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform_tests.streaming.secure_proxy import SecureProxy, self_signed_certificate

pytestmark = pytest.mark.kafka


def _send(config: dict, topic: str, count: int, seed: int = 0) -> None:
    producer = KafkaProducer(linger_ms=5, **config)
    for i in range(count):
        producer.send(
            topic,
            partition=i % 2,
            key=None if i % 4 == 0 else f"k{i}".encode(),
            value=None if i % 9 == 0 and i % 4 else f"value-{seed}-{i}".encode() * (1 + i % 50),
            headers=[("trace", f"{i}".encode()), ("empty", b"")] if i % 3 == 0 else [],
        )
    producer.flush()
    producer.close()


def _read(config: dict, topic: str, ranges: list[PartitionRange]) -> list[tuple]:
    fetcher = RangeFetcher(config, topic, ranges, idle_timeout_s=5)
    return [
        (r.partition, r.offset, r.timestamp, r.key, r.value, r.headers)
        for chunk in fetcher
        for r in (chunk.record(i) for i in range(len(chunk)))
    ]


@pytest.fixture
def topic(kafka_broker: LocalBroker) -> Iterator[tuple[dict, str]]:
    resource = KafkaResource(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        orders_topic=f"wire-{uuid.uuid4().hex[:8]}",
        orders_partitions=2,
    )
    resource.ensure_topics()
    yield resource.bounded_config(), resource.orders_topic


def test_exact_ranges_hold_what_kafka_python_returns(topic) -> None:
    config, name = topic
    _send(config, name, 2_000)
    ranges = [PartitionRange(0, 137, 911), PartitionRange(1, 0, 1_000)]
    got = _read(config, name, ranges)
    consumer = KafkaConsumer(enable_auto_commit=False, **config)
    tps = {r.partition: TopicPartition(name, r.partition) for r in ranges}
    consumer.assign(list(tps.values()))
    expected = []
    for r in ranges:
        consumer.seek(tps[r.partition], r.start)
        while len([e for e in expected if e[0] == r.partition]) < r.size:
            for records in consumer.poll(timeout_ms=500).values():
                expected += [
                    (m.partition, m.offset, m.timestamp, m.key, m.value, m.headers)
                    for m in records
                    if m.offset < r.end
                ]
        consumer.pause(tps[r.partition])
    consumer.close()
    assert sorted(got) == sorted(expected)
    assert [o for p, o, *_ in got if p == 0] == list(range(137, 911))  # offset order


def test_high_watermarks_are_the_true_ones(topic) -> None:
    config, name = topic
    for seed in range(3):  # several produce batches: ListOffsets(latest) under-reports these
        _send(config, name, 300, seed)
    fetcher = RangeFetcher(config, name, [PartitionRange(0, 0, 1), PartitionRange(1, 0, 1)])
    assert sum(len(chunk) for chunk in fetcher) == 2
    assert fetcher.highwaters == {0: 450, 1: 450}


def test_a_range_past_the_high_watermark_fails_naming_the_position(topic) -> None:
    config, name = topic
    _send(config, name, 20)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=r"stuck at positions \{0: 10\}.*ends \{0: 15\}"):
        list(RangeFetcher(config, name, [PartitionRange(0, 0, 15)], idle_timeout_s=1))
    assert time.monotonic() - started < 5


def test_an_unreachable_broker_fails_fast() -> None:
    config = KafkaResource(bootstrap_servers=f"127.0.0.1:{free_port()}").bounded_config()
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="no bootstrap server answered"):
        list(RangeFetcher(config, "orders", [PartitionRange(0, 0, 5)], idle_timeout_s=1))
    assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict, SecureProxy]]:
    """A broker reachable only through a TLS + SASL/PLAIN front (user alice)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = self_signed_certificate(directory)
    listen = socket.create_server(("127.0.0.1", 0))
    front = listen.getsockname()[1]
    broker = LocalBroker(log_path=directory / "broker.log", advertised_port=front)
    with broker:
        proxy = SecureProxy(listen, ("127.0.0.1", broker.port), cert, key, ("alice", "s3cret"))
        config = KafkaResource(
            bootstrap_servers=f"127.0.0.1:{front}",
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_username="alice",
            sasl_password="s3cret",
            ssl_cafile=str(cert),
        ).bounded_config()
        yield config, proxy
        listen.close()


def test_tls_and_sasl_plain(secured) -> None:
    config, _ = secured
    ensure_topics(config, {"secured": 2})
    _send(config, "secured", 100)
    got = _read(config, "secured", [PartitionRange(0, 0, 50), PartitionRange(1, 10, 50)])
    assert len(got) == 90


def test_wrong_credentials_are_refused(secured) -> None:
    config, proxy = secured
    rejected = proxy.rejected_logins
    with pytest.raises(Exception, match="invalid credentials"):
        list(RangeFetcher({**config, "sasl_plain_password": "nope"}, "secured",
                          [PartitionRange(0, 0, 1)], idle_timeout_s=1))  # fmt: skip
    assert proxy.rejected_logins == rejected + 1
