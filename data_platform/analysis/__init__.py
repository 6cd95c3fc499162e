"""Analyses over the marts: pandas assets the warehouse stores through Dagster's DuckDB I/O."""
