"""Everything the Spark windows domain contributes to the code location."""

import dagster as dg

from data_platform.streaming.windows import assets, automation
from data_platform.streaming.windows.spark_resource import SparkResource

defs = dg.Definitions(
    assets=[assets.order_window_aggregates],
    jobs=[automation.order_windows_job],
    sensors=[automation.order_windows_after_orders_events_sensor],
    resources={"spark": SparkResource()},
)
