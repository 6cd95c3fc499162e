"""`data-platform produce-orders` and `kafka ensure-topics` against the real broker."""

import pytest

from data_platform.cli import main as cli
from data_platform.kafka import client
from data_platform.kafka.local_broker import LocalBroker
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform_tests.streaming.microbatch.test_microbatch import read_topic

pytestmark = pytest.mark.kafka


def test_ensure_topics_is_idempotent(kafka_broker: LocalBroker, monkeypatch, capsys) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker.bootstrap_servers)
    assert cli.main(["kafka", "ensure-topics"]) == 0
    assert cli.main(["kafka", "ensure-topics"]) == 0
    assert "created nothing (all present)" in capsys.readouterr().out.splitlines()[-1]
    consumer = client.new_consumer(KafkaResource().librdkafka_config())
    try:
        assert client.topic_partitions(consumer, "orders") == [0, 1, 2]
        assert client.topic_partitions(consumer, "orders-dlq") == [0]
    finally:
        consumer.close()


def test_produce_orders_publishes_keyed_events_with_poison(kafka, monkeypatch, capsys) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.resolved_bootstrap_servers())
    args = [
        "produce-orders",
        "--count",
        "500",
        "--invalid-rate",
        "0.04",
        "--late-rate",
        "0.2",
        "--rate",
        "2000",
        "--topic",
        kafka.orders_topic,
    ]
    assert cli.main(args) == 0
    assert "produced 500 records" in capsys.readouterr().out
    records = read_topic(kafka, kafka.orders_topic)
    assert len(records) == 500
    keyed = [r for r in records if r.value is not None and r.value.startswith(b'{"order_id"')]
    assert keyed and all(r.key and r.key.startswith(b"cust-") for r in keyed)
