"""`order_window_aggregates`: Spark Structured Streaming windows over the `orders` topic.

Each materialization drains what the topic holds now (`availableNow`) from the checkpoint and
upserts every micro-batch into `stream.order_window_aggregates` exactly once.
"""

from typing import Literal

import dagster as dg
from pydantic import Field

from data_platform.resources import WAREHOUSE_POOL, WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.windows.checks import LATE_SHARE_CHECK_SPEC, late_share_result
from data_platform.streaming.windows.spark_resource import SparkResource

QUERY_NAME = "order_window_aggregates"


class OrderWindowsConfig(dg.Config):
    starting_offsets: str = Field(
        default="earliest", description="Where a NEW checkpoint starts (like the official option)."
    )
    max_offsets_per_trigger: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="Cap on records per micro-batch; none = one batch for all.",
    )
    checkpoint_name: str = Field(
        default=QUERY_NAME, description="Checkpoint directory under the Spark checkpoint root."
    )
    late_share_threshold: float = Field(
        default=0.05, ge=0.0, le=1.0, description="The late-record check warns above this share."
    )
    on_topic_recreated: Literal["fail", "reset"] = Field(
        default="fail",
        description="If the topic was re-created since the checkpoint: fail, or reset the "
        "checkpoint and the window table and start over from the new topic.",
    )


@dg.asset(
    group_name="streaming",
    owners=["team:streaming"],
    pool=WAREHOUSE_POOL,
    kinds={"spark", "kafka", "duckdb"},
    check_specs=[LATE_SHARE_CHECK_SPEC],
    description="Per-customer 5-minute order windows (10-minute watermark) from Kafka `orders`.",
)
def order_window_aggregates(
    context: dg.AssetExecutionContext,
    config: OrderWindowsConfig,
    spark: SparkResource,
    kafka: KafkaResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    # pyspark, pandas and the Kafka admin client load here, in the step, not with the definitions.
    from data_platform.streaming.windows import query as window_query
    from data_platform.streaming.windows import runner, topic_guard
    from data_platform.streaming.windows import store as window_store

    checkpoint = spark.checkpoint_location(config.checkpoint_name)
    if topic_guard.guard(kafka, warehouse, checkpoint, config.on_topic_recreated):
        context.log.warning(f"topic {kafka.orders_topic!r} was re-created: windows start over")
    with spark.session() as session:
        records = window_query.read_kafka(
            session,
            spark.kafka_format,
            window_query.kafka_options(kafka, spark.kafka_format),
            kafka.orders_topic,
            config.starting_offsets,
            config.max_offsets_per_trigger,
        )
        summary = runner.run_availablenow(records, warehouse.connect, checkpoint, QUERY_NAME)
    context.log.info(
        f"{summary.batches} batches, {summary.valid_events} events, {summary.late_records} late, "
        f"{summary.windows_updated} windows updated; watermark {summary.watermark}"
    )
    return dg.MaterializeResult(
        metadata={
            "input_rows": summary.input_rows,
            "invalid_records_dropped": summary.invalid_records,
            "valid_events": summary.valid_events,
            "late_records": summary.late_records,
            "rows_dropped_by_watermark_progress": summary.rows_dropped_by_watermark,
            "late_share": dg.MetadataValue.float(round(summary.late_share, 6)),
            "watermark": summary.watermark or "none yet",
            "batches": summary.batches,
            "batches_replayed": summary.batches_replayed,
            "windows_updated": summary.windows_updated,
            # Where the run's time went, so a slow run shows its phase in the UI.
            "seconds_by_phase": dg.MetadataValue.json(summary.seconds),
            "query_id": summary.query_id,
            "checkpoint": checkpoint,
            "table": window_store.TABLE,
        },
        check_results=[late_share_result(summary, config.late_share_threshold)],
    )
