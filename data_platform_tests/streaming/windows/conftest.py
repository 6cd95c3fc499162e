"""Spark and Kafka helpers for the windows tests: ONE local SparkSession for the whole session."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from pyspark.sql import SparkSession

from data_platform.kafka.local_broker import LocalBroker
from data_platform.streaming.windows.kafka_source import KafkaPyDataSource
from data_platform.streaming.windows.spark_resource import SparkResource


@pytest.fixture(scope="session")
def spark_session() -> Iterator[SparkSession]:
    """Started once (~5-10 s); the asset's SparkResource reuses it (`reuse_active_session`)."""
    spark = SparkResource().builder().getOrCreate()
    spark.dataSource.register(KafkaPyDataSource)
    yield spark
    spark.stop()


def new_topic(broker: LocalBroker, partitions: int = 2) -> str:
    """A fresh topic per test: the broker is shared by the whole session."""
    name = f"orders-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    return name


def event(order_id: str, customer_id: str, amount: float, event_time: str) -> bytes:
    return json.dumps(
        {"order_id": order_id, "customer_id": customer_id, "amount": amount,
         "currency": "USD", "event_time": event_time}
    ).encode()  # fmt: skip


POISON: list[tuple[bytes | None, bytes | None]] = [
    (b"c1", b"not json"),
    (b"c1", b"\xff\xfe\xfd"),
    (b"c1", b'{"order_id": "\xff", "customer_id": "c1", "amount": 1, "currency": "USD", '
            b'"event_time": "2024-03-01T12:00:00Z"}'),
    (b"c1", b'[{"order_id": "o"}]'),
    (b"c1", b'{"order_id": "p1", "customer_id": "c1", "currency": "USD", '
            b'"event_time": "2024-03-01T12:00:00Z"}'),
    (b"c1", b'{"order_id": "p2", "customer_id": 7, "amount": 1, "currency": "USD", '
            b'"event_time": "2024-03-01T12:00:00Z"}'),
    (b"c1", b'{"order_id": "p3", "customer_id": "c1", "amount": "12", "currency": "USD", '
            b'"event_time": "2024-03-01T12:00:00Z"}'),
    (b"c1", b'{"order_id": "p4", "customer_id": "c1", "amount": -5, "currency": "USD", '
            b'"event_time": "2024-03-01T12:00:00Z"}'),
    (b"c1", b'{"order_id": "p5", "customer_id": "c1", "amount": 1e999, "currency": "USD", '
            b'"event_time": "2024-03-01T12:00:00Z"}'),
    (b"c1", b'{"order_id": "p6", "customer_id": "c1", "amount": NaN, "currency": "USD", '
            b'"event_time": "2024-03-01T12:00:00Z"}'),
    (b"c1", b'{"order_id": "p7", "customer_id": "c1", "amount": 1, "currency": "USD", '
            b'"event_time": "2024-03-01T12:00:00"}'),
    (b"c1", b'{"order_id": "p8", "customer_id": "c1", "amount": 1, "currency": "USD", '
            b'"event_time": "2024-13-01T12:00:00Z"}'),
    (b"c1", b'{"order_id": "p9", "customer_id": " ", "amount": 1, "currency": "USD", '
            b'"event_time": "2024-03-01T12:00:00Z"}'),
    (b"c1", b'{"order_id": "p10", "customer_id": "c1", "amount": 1, "currency": "USD", '
            b'"event_time": "2024-03-01T12:00:00Z", "pad": "' + b"x" * 33_000 + b'"}'),
    (b"c1", None),
]  # fmt: skip


def produce(
    broker: LocalBroker, topic: str, records: list[tuple[bytes | None, bytes | None]]
) -> None:
    """Sends in producer batches (several records per batch), as real producers do."""
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=20)
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()
