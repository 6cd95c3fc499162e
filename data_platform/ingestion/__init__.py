"""Daily-partitioned raw ingestion from the orders API into the DuckDB `raw` schema."""
