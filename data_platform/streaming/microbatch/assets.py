"""The micro-batch step: one run loads exactly the planned offset ranges of the orders topic
into `orders_events` (valid records) and `orders_dlq` (poison records, with the reason)."""

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field, model_validator

from data_platform.kafka.ranges import PartitionRange, format_ranges
from data_platform.orders.events import DEFAULT_MAX_RECORD_BYTES
from data_platform.resources import WAREHOUSE_POOL, WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch import checks
from data_platform.streaming.microbatch.offsets import lag

if TYPE_CHECKING:  # the batch path (pyarrow, the Kafka client) is imported by the step itself
    from data_platform.streaming.microbatch.loading import MicroBatchOutcome

GROUP = "streaming"
OWNERS = ["team:streaming"]
# The stream is continuous: no batch for 5 minutes is worth a look, for 15 a failure (no new
# records, a stopped sensor, or a jammed pool all show here).
STREAM_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(minutes=15), warn_window=timedelta(minutes=5)
)


# Kafka's own limits: partition ids are int32, offsets int64.
_INT32_MAX, _INT64_MAX = 2**31 - 1, 2**63 - 1
# Kafka's default message.max.bytes is 1 MiB; a record beyond 64 MiB is nobody's order event.
MAX_RECORD_BYTES_LIMIT = 64 * 1024 * 1024


class RangeConfig(dg.Config):
    partition: int = Field(ge=0, le=_INT32_MAX)
    start: int = Field(ge=0, le=_INT64_MAX)
    end: int = Field(ge=0, le=_INT64_MAX)

    @model_validator(mode="after")
    def _not_reversed(self) -> "RangeConfig":
        if self.end < self.start:
            raise ValueError(
                f"end ({self.end}) is before start ({self.start}) for partition {self.partition}"
            )
        return self


class MicroBatchConfig(dg.Config):
    topic: str | None = Field(default=None, description="Default: the kafka resource's topic.")
    ranges: list[RangeConfig] = Field(default_factory=list, description="[start, end) each.")
    max_record_bytes: int = Field(
        default=DEFAULT_MAX_RECORD_BYTES,
        ge=1,
        le=MAX_RECORD_BYTES_LIMIT,
        description="Records larger than this are dead-lettered as oversized.",
    )
    dlq_rate_threshold: float = Field(
        default=checks.DEFAULT_DLQ_RATE_THRESHOLD,
        ge=0.0,
        le=1.0,
        description="The dlq_rate check fails above this share of dead-lettered records.",
    )


def _metadata(outcome: "MicroBatchOutcome") -> dict[str, Any]:
    from data_platform.streaming.microbatch.order_batch import UNDECODABLE_BATCH

    batch = outcome.batch
    ends = {r.partition: r.end for r in outcome.read_ranges}
    return {
        "topic": outcome.topic,
        "ranges": dg.MetadataValue.text(format_ranges(outcome.ranges) or "none"),
        "ranges_read": dg.MetadataValue.text(format_ranges(outcome.read_ranges) or "none"),
        "records_read": batch.read,
        "records_loaded": outcome.counts.events_inserted,
        "records_dead_lettered": outcome.counts.dlq_inserted,
        "records_already_present": batch.read
        - outcome.counts.events_inserted
        - outcome.counts.dlq_inserted,
        "dlq_published": outcome.dlq_published,
        "dlq_publish_pending": outcome.dlq_unpublished,
        "undecodable_batches": batch.reasons.get(UNDECODABLE_BATCH, 0),
        "lag_after_batch": dg.MetadataValue.json(
            {str(p): v for p, v in lag(ends, outcome.highwaters).items()}
        ),
        "records_per_second": round(batch.read / outcome.seconds, 1) if outcome.seconds else 0.0,
        "seconds": round(outcome.seconds, 3),
        "conflict_retries": outcome.conflict_retries,
        # Kafka timestamp to warehouse commit, over the batch's events: plotted per batch.
        **{
            f"latency_{name}": value
            for name, value in outcome.latency._asdict().items()
            if value is not None
        },
    }


@dg.multi_asset(
    name="orders_microbatch",
    specs=[
        dg.AssetSpec(
            "orders_events",
            group_name=GROUP,
            owners=OWNERS,
            kinds={"kafka", "duckdb"},
            freshness_policy=STREAM_FRESHNESS,
            description="Valid order events, keyed by topic/partition/offset.",
        ),
        dg.AssetSpec(
            "orders_dlq",
            group_name=GROUP,
            owners=OWNERS,
            kinds={"kafka", "duckdb"},
            description="Poison records with the original bytes and the reason.",
        ),
    ],
    check_specs=checks.MICROBATCH_CHECKS,
    pool=WAREHOUSE_POOL,
)
def orders_microbatch(
    context: dg.AssetExecutionContext,
    config: MicroBatchConfig,
    kafka: KafkaResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Load the run's planned ranges; the sensor `orders_kafka_sensor` plans them."""
    from data_platform.streaming.microbatch.dlq_metadata import dlq_metadata
    from data_platform.streaming.microbatch.loading import run_batch

    topic = config.topic or kafka.orders_topic
    ranges = [PartitionRange(r.partition, r.start, r.end) for r in config.ranges]
    outcome = run_batch(kafka, warehouse, topic, ranges, context.run_id, config.max_record_bytes)
    context.log.info(
        f"{topic} {format_ranges(ranges)}: read {outcome.batch.read}, loaded "
        f"{outcome.counts.events_inserted}, dead-lettered {outcome.counts.dlq_inserted}"
    )
    metadata = _metadata(outcome)
    yield dg.MaterializeResult(asset_key="orders_events", metadata=metadata)
    yield dg.MaterializeResult(
        asset_key="orders_dlq",
        metadata={
            **metadata,
            "batch_by_reason": dg.MetadataValue.json(dict(outcome.batch.reasons)),
            **dlq_metadata(outcome.dlq),
        },
    )
    yield checks.required_fields_result(outcome.batch)
    yield checks.offsets_contiguous_result(outcome.ledger)
    yield checks.dlq_rate_result(outcome.batch, config.dlq_rate_threshold)
