"""Forget the stream state an earlier in-memory broker left in the warehouse.

The local broker keeps its topics in memory: a new one starts every partition again at offset 0
with a new topic id. The warehouse still holds the earlier broker's ledger (ahead of the new
high watermarks: the Kafka sensor would skip every tick) and the Spark checkpoint's topic id
(the window run would fail as "re-created"). Those records are gone for good, so for a broker
this command started itself, the operator's steps (`data-platform kafka forget-topic`, windows
`on_topic_recreated: reset`) are taken at once, before Dagster starts, and said once.
"""

from __future__ import annotations

from data_platform import warehouse
from data_platform.kafka import client
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch import stream_store
from data_platform.streaming.microbatch.offsets import contiguous_ends

PROBE_TIMEOUT_S = 10.0


def forget_ledger_ahead(kafka: KafkaResource) -> dict[str, int]:
    """Delete the topic's events, dead letters and ledger when the ledger is ahead of the
    broker; the rows deleted per table (empty when nothing was ahead)."""
    topic = kafka.orders_topic
    target = warehouse.warehouse_from_env()
    if not warehouse.exists(target):
        return {}
    marks = client.probe_end_offsets(kafka.librdkafka_config(), topic, None, PROBE_TIMEOUT_S)
    with warehouse.connect(target) as conn:
        ends = contiguous_ends(stream_store.ledger_rows(conn, topic))
        if not any(ends.get(p, 0) > hw for p, hw in marks.items()):
            return {}
        return stream_store.forget_topic(conn, topic)


def reset_windows_checkpoint(kafka: KafkaResource) -> bool:
    """Start the Spark windows over when their checkpoint was taken from an earlier topic."""
    from data_platform.streaming.windows import topic_guard  # imports pyspark: only when needed
    from data_platform.streaming.windows.assets import QUERY_NAME
    from data_platform.streaming.windows.spark_resource import SparkResource

    if not warehouse.exists(warehouse.warehouse_from_env()):
        return False
    checkpoint = SparkResource().checkpoint_location(QUERY_NAME)
    return topic_guard.guard(kafka, WarehouseResource(), checkpoint, "reset")


def forget_earlier_broker(kafka: KafkaResource) -> str | None:
    """Clear what a fresh in-memory broker makes stale; one sentence saying what was done, or
    None when nothing was stale."""
    deleted = forget_ledger_ahead(kafka)
    windows = reset_windows_checkpoint(kafka)
    if not deleted and not windows:
        return None
    done = []
    if deleted:
        counts = ", ".join(f"{n:,} from {t}" for t, n in deleted.items())
        done.append(f"deleted the rows of topic {kafka.orders_topic!r} ({counts})")
    if windows:
        done.append("reset the Spark windows (checkpoint and stream.order_window_aggregates)")
    return (
        "fresh in-memory broker: the warehouse's stream state came from an earlier broker whose "
        f"records are gone, so the sensors start again at offset 0: {'; '.join(done)}. "
        "Dagster's run history keeps the earlier runs."
    )
