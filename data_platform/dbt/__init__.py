"""The dbt layer: dbt models, snapshot and tests as Dagster assets and asset checks."""
