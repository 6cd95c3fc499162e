"""Everything the ingestion domain contributes to the code location."""

import dagster as dg

from data_platform.ingestion import assets, automation

defs = dg.Definitions(
    assets=[assets.raw_orders, assets.raw_order_items, assets.raw_customers, assets.raw_users],
    jobs=[automation.daily_ingestion_job, automation.users_refresh_job],
    schedules=[automation.daily_ingestion_schedule, automation.users_refresh_schedule],
)
