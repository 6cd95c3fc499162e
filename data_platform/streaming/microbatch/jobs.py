"""The micro-batch job. Its runs carry the topic tag that dagster.yaml limits to one at a time."""

import dagster as dg

TOPIC_TAG = "data_platform/kafka_topic"
BATCH_TAG = "data_platform/kafka_batch"
RANGES_TAG = "data_platform/kafka_ranges"
# 0 for a batch planned the first time, n for its n-th re-plan (after a failed run).
ATTEMPT_TAG = "data_platform/kafka_attempt"
JOB_NAME = "orders_microbatch_job"

orders_microbatch_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.assets("orders_events", "orders_dlq"),
    description="Load one planned Kafka offset range batch (launched by orders_kafka_sensor).",
    # No Dagster run retries: a retry would replay only the dead run's ranges, then wait for
    # another run for what arrived meanwhile; the sensor re-plans from the ledger instead, one
    # batch from the last committed offset to the end of the topic.
    tags={TOPIC_TAG: "orders", "dagster/max_retries": "0"},
)
