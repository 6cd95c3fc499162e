"""Checkpoint offsets are only meaningful for the topic they were taken from.

A deleted and re-created topic (or a restarted in-memory dev broker) starts again at offset 0:
Spark would resume from the old offsets and silently skip records. The topic id (a UUID Kafka
assigns at creation) is recorded per checkpoint; a different id fails the run, or with
`on_topic_recreated="reset"` starts the checkpoint and the window table over.
"""

import shutil
from pathlib import Path

from data_platform.kafka import admin
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.windows import store as window_store

TopicMissing = admin.TopicMissing


def topic_id(kafka: KafkaResource, topic: str) -> str | None:
    """The topic's id, or None when the broker does not report ids (Kafka < 2.8)."""
    return admin.topic_id(kafka.client_config(), topic)


def _delete_checkpoint(checkpoint: str) -> None:
    if "://" in checkpoint and not checkpoint.startswith("file://"):
        raise RuntimeError(
            f"cannot reset the remote checkpoint {checkpoint}: delete it with your storage "
            "tools, then re-run"
        )
    shutil.rmtree(Path(checkpoint.removeprefix("file://")), ignore_errors=True)


def guard(
    kafka: KafkaResource, warehouse: WarehouseResource, checkpoint: str, on_recreated: str
) -> bool:
    """Check (and record) the topic behind the checkpoint; True when it was reset."""
    topic = kafka.orders_topic
    current = topic_id(kafka, topic)
    if current is None:
        return False
    with warehouse.connect() as conn:
        recorded = window_store.recorded_topic_id(conn, checkpoint)
    if recorded == current:
        return False
    if recorded is not None and on_recreated != "reset":
        raise RuntimeError(
            f"Kafka topic {topic!r} was re-created (id {recorded} -> {current}) since the "
            f"checkpoint {checkpoint} was written; its offsets no longer apply. Re-run with "
            "config on_topic_recreated: reset to start the windows over from this topic."
        )
    if recorded is not None:
        _delete_checkpoint(checkpoint)
    with warehouse.connect() as conn:
        window_store.record_topic(conn, checkpoint, topic, current, reset=recorded is not None)
    return recorded is not None
