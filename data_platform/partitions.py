"""The daily partitioning shared by raw ingestion and the partitioned dbt mart."""

import dagster as dg

PARTITIONS_START = "2024-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START)
