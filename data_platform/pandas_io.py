"""dagster-duckdb-pandas' I/O manager on the warehouse, built when a step first needs it: this
module imports pandas (~1 s), so only `WarehousePandasIOManager.create_io_manager` imports it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

# dagster-duckdb exports neither the generic DB I/O manager nor its client; subclassing them is
# the only way to give its pandas type handler the warehouse's own path and lock handling.
from dagster._core.storage.db_io_manager import DbIOManager
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasTypeHandler

from data_platform import warehouse


class _WarehouseDuckDbClient(DuckDbClient):
    """Dagster's DuckDB client, connecting as every other warehouse writer does: the configured
    file or lake, waiting out another process's file lock instead of failing."""

    @staticmethod
    @contextmanager
    def connect(context: Any, _: Any) -> Iterator[duckdb.DuckDBPyConnection]:
        config = context.resource_config
        with warehouse.connect(
            config["database"] or None, lock_timeout_seconds=config["lock_timeout_seconds"]
        ) as conn:
            yield conn


def pandas_io_manager(database: str, schema: str | None) -> DbIOManager:
    """DataFrames stored as tables of `schema` (a partitioned asset's day replaced by its
    partition_expr column), loaded back as DataFrames."""
    import pandas as pd

    return DbIOManager(
        db_client=_WarehouseDuckDbClient(),
        database=database or warehouse.warehouse_from_env().describe(),
        schema=schema,
        type_handlers=[DuckDBPandasTypeHandler()],
        default_load_type=pd.DataFrame,
        io_manager_name="WarehousePandasIOManager",
    )
