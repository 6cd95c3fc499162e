"""Jobs and schedules that keep the raw layer current."""

import dagster as dg

from data_platform.partitions import daily_partitions

daily_ingestion_job = dg.define_asset_job(
    "daily_ingestion_job",
    selection=(dg.AssetSelection.groups("ingestion") - dg.AssetSelection.assets("raw_users"))
    | dg.AssetSelection.groups("staging")
    | dg.AssetSelection.assets("fact_orders"),
    partitions_def=daily_partitions,
    description="One day of raw orders, order items and customers, then staging and fact_orders.",
)

users_refresh_job = dg.define_asset_job(
    "users_refresh_job",
    selection=dg.AssetSelection.assets("raw_users", "users_snapshot"),
    description="Refresh the users table, then record its changes in the SCD2 snapshot.",
)

# Runs shortly after midnight UTC for the day that just ended (yesterday's partition).
daily_ingestion_schedule = dg.build_schedule_from_partitioned_job(
    daily_ingestion_job, name="daily_ingestion_schedule", hour_of_day=1
)

users_refresh_schedule = dg.ScheduleDefinition(
    name="users_refresh_schedule", job=users_refresh_job, cron_schedule="30 1 * * *"
)
