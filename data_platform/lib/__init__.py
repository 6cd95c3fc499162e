"""Pure code with no Dagster imports: warehouse SQL, the orders API client, demo data,
validation, Kafka and Spark helpers."""
