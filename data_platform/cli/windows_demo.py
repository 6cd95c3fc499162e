"""The Spark part of `data-platform demo`: materialize `order_window_aggregates` over whatever
the `orders` topic holds and print the busiest windows (or say why there is nothing to show)."""

from __future__ import annotations

import json
from collections.abc import Callable

import dagster as dg

from data_platform import warehouse
from data_platform.cli.demo_console import say
from data_platform.kafka import admin, client
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.windows import store as window_store
from data_platform.streaming.windows import topic_guard

ASSET = "order_window_aggregates"
# A dev broker keeps topics in memory: a restarted one re-creates `orders`, so start over.
RUN_CONFIG = {"ops": {ASSET: {"config": {"on_topic_recreated": "reset"}}}}
TOP = 10


def topic_records(kafka: KafkaResource) -> int:
    """How many records the topic holds (end offsets; raises TopicMissing, KafkaError,
    BrokerUnavailable)."""
    topic_guard.topic_id(kafka, kafka.orders_topic)
    ends = client.probe_end_offsets(kafka.librdkafka_config(), kafka.orders_topic, None, 10)
    return sum(ends.values())


def _latest_metadata() -> dict[str, object]:
    instance = dg.DagsterInstance.get()
    event = instance.get_latest_materialization_event(dg.AssetKey(ASSET))
    if event is None or event.asset_materialization is None:
        return {}
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def run_windows_demo(
    materialize: Callable[..., None],
    print_table: Callable[..., None],
    kafka: KafkaResource | None = None,
) -> None:
    kafka = kafka or KafkaResource()
    say(f"\nSpark window aggregates over {kafka.orders_topic!r}")
    try:
        records = topic_records(kafka)
    except topic_guard.TopicMissing:
        say(f"skipped: topic {kafka.orders_topic!r} does not exist (produce events first)")
        return
    except (admin.KafkaError, OSError, client.BrokerUnavailable) as exc:
        say(f"skipped: Kafka at {kafka.resolved_bootstrap_servers()} unreachable ({exc})")
        return
    if records == 0:
        say(f"skipped: topic {kafka.orders_topic!r} is empty (produce events first)")
        return
    materialize(ASSET, "--config-json", json.dumps(RUN_CONFIG))
    meta = _latest_metadata()
    keys = ("input_rows", "invalid_records_dropped", "late_records", "watermark", "batches",
            "windows_updated")  # fmt: skip
    print_table("This materialization", ("metric", "value"), [(k, meta.get(k)) for k in keys])
    with warehouse.connect(warehouse.warehouse_from_env(), read_only=True) as conn:
        rows = conn.execute(
            f"""SELECT window_start, window_end, customer_id, order_count, total_amount
                FROM {window_store.TABLE}
                ORDER BY total_amount DESC, window_start, customer_id LIMIT ?""",  # noqa: S608
            [TOP],
        ).fetchall()
        count = f"SELECT COUNT(*) FROM {window_store.TABLE}"  # noqa: S608
        [total] = warehouse.one_row(conn.execute(count))
    print_table(
        f"Top {len(rows)} of {total} five-minute windows by amount ({window_store.TABLE})",
        ("window_start", "window_end", "customer_id", "orders", "total_amount"),
        rows,
    )
