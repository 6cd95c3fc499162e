"""Everything the Kafka micro-batch domain contributes to the code location."""

import dagster as dg

from data_platform.streaming.microbatch import assets, jobs, sensor

defs = dg.Definitions(
    assets=[assets.orders_microbatch],
    jobs=[jobs.orders_microbatch_job],
    sensors=[sensor.orders_kafka_sensor],
)
