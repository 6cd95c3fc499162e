"""A re-created topic must not be read from the old checkpoint's offsets (no Spark needed)."""

import time
from datetime import datetime
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from data_platform.kafka.local_broker import LocalBroker
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.windows import store as window_store
from data_platform.streaming.windows import topic_guard
from data_platform_tests.streaming.windows.conftest import new_topic

pytestmark = pytest.mark.kafka


def recreate(broker: LocalBroker, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        admin.delete_topics([topic])
        time.sleep(0.3)
        admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        admin.close()


def test_recreated_topic_fails_or_resets_checkpoint_and_windows(
    kafka_broker: LocalBroker, warehouse: WarehouseResource, tmp_path: Path
) -> None:
    kafka = KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers,
                          orders_topic=new_topic(kafka_broker))  # fmt: skip
    checkpoint = tmp_path / "ckpt"
    (checkpoint / "offsets").mkdir(parents=True)
    assert topic_guard.guard(kafka, warehouse, str(checkpoint), "fail") is False  # recorded
    assert topic_guard.guard(kafka, warehouse, str(checkpoint), "fail") is False  # same topic
    with warehouse.connect() as conn:
        conn.execute(
            f"INSERT INTO {window_store.TABLE} VALUES (?, ?, 'c1', 1, 1, ?)",
            [datetime(2024, 3, 1, 12), datetime(2024, 3, 1, 12, 5), datetime(2024, 3, 1)],
        )

    recreate(kafka_broker, kafka.orders_topic)

    with pytest.raises(RuntimeError, match=r"was re-created .* on_topic_recreated: reset"):
        topic_guard.guard(kafka, warehouse, str(checkpoint), "fail")
    assert checkpoint.exists()
    assert topic_guard.guard(kafka, warehouse, str(checkpoint), "reset") is True
    assert not checkpoint.exists()
    with warehouse.connect() as conn:
        assert conn.execute(f"SELECT COUNT(*) FROM {window_store.TABLE}").fetchone() == (0,)
    assert topic_guard.guard(kafka, warehouse, str(checkpoint), "fail") is False


def test_missing_topic_is_named(kafka_broker: LocalBroker) -> None:
    kafka = KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers)
    with pytest.raises(topic_guard.TopicMissing, match="no-such-topic"):
        topic_guard.topic_id(kafka, "no-such-topic")
