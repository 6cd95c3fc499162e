"""Resources shared by every domain, each with its embedded local default."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

# dagster-duckdb exports neither the generic DB I/O manager nor its client; subclassing them is
# the only way to give its pandas I/O manager the warehouse's own path and lock handling.
from dagster._core.storage.db_io_manager import DbIOManager
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasIOManager
from pydantic import Field

from data_platform import warehouse
from data_platform.ingestion.orders_api import (
    DEFAULT_MAX_PAGES,
    DemoTransport,
    HttpTransport,
    OrdersApiClient,
    Transport,
)
from data_platform.paths import warehouse_path

# Dagster pool of every asset that writes the warehouse: DuckDB admits one writing process, and
# dagster.yaml gives this pool a single slot.
WAREHOUSE_POOL = "warehouse"
ORDERS_API_URL_ENV = "ORDERS_API_URL"
ORDERS_API_TOKEN_ENV = "ORDERS_API_TOKEN"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Connections are short and wait out another writer's lock."""

    path: str | None = Field(
        default=None, description="DuckDB file; default $DATA_PLATFORM_WAREHOUSE or .data/."
    )
    lock_timeout_seconds: float = Field(
        default=600.0, ge=0, le=86_400, description="How long to wait for another process's lock."
    )

    def resolved_path(self) -> Path:
        return Path(self.path).resolve() if self.path else warehouse_path()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(
            self.resolved_path(),
            read_only=read_only,
            lock_timeout_seconds=self.lock_timeout_seconds,
        ) as conn:
            yield conn


class OrdersApiResource(dg.ConfigurableResource):
    """The orders HTTP API, or the built-in deterministic demo source when no URL is set.

    `base_url` falls back to $ORDERS_API_URL at run time; the bearer token is read only from
    $ORDERS_API_TOKEN (a secret: never config, never logged).
    """

    base_url: str | None = None
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    read_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_seconds: float = Field(default=0.5, ge=0, le=300)
    max_backoff_seconds: float = Field(default=30.0, ge=0, le=3600)
    page_size: int = Field(default=5000, ge=1, le=100_000)
    max_pages: int = Field(
        default=DEFAULT_MAX_PAGES, ge=1, le=1_000_000, description="Cap on pages per day."
    )
    demo_orders_per_day: int = Field(default=2000, ge=0, le=10_000_000)
    demo_user_count: int = Field(default=300, ge=0, le=10_000_000)

    def effective_base_url(self) -> str | None:
        return self.base_url or os.environ.get(ORDERS_API_URL_ENV) or None

    def client(self) -> OrdersApiClient:
        base_url = self.effective_base_url()
        transport: Transport
        if base_url is None:
            transport = DemoTransport(self.demo_orders_per_day, self.demo_user_count)
        else:
            transport = HttpTransport(
                base_url,
                connect_timeout=self.connect_timeout_seconds,
                read_timeout=self.read_timeout_seconds,
                max_retries=self.max_retries,
                backoff_seconds=self.backoff_seconds,
                max_backoff_seconds=self.max_backoff_seconds,
                token=os.environ.get(ORDERS_API_TOKEN_ENV),
            )
        return OrdersApiClient(transport, page_size=self.page_size, max_pages=self.max_pages)


class _WarehouseDuckDbClient(DuckDbClient):
    """Dagster's DuckDB client, connecting as every other warehouse writer does: the resolved
    warehouse path, waiting out another process's lock instead of failing."""

    @staticmethod
    @contextmanager
    def connect(context: Any, _: Any) -> Iterator[duckdb.DuckDBPyConnection]:
        config = context.resource_config
        path = Path(config["database"]).resolve() if config["database"] else warehouse_path()
        with warehouse.connect(path, lock_timeout_seconds=config["lock_timeout_seconds"]) as conn:
            yield conn


class WarehousePandasIOManager(DuckDBPandasIOManager):
    """dagster-duckdb-pandas' I/O manager on the warehouse: DataFrame outputs become tables of
    schema `analysis` (a partitioned asset's day replaced by its partition_expr column)."""

    database: str = Field(default="", description="DuckDB file; default as WarehouseResource.")
    schema_: str | None = Field(default="analysis", alias="schema")
    lock_timeout_seconds: float = Field(default=600.0, ge=0, le=86_400)

    def create_io_manager(self, context: Any) -> DbIOManager:
        return DbIOManager(
            db_client=_WarehouseDuckDbClient(),
            database=self.database or str(warehouse_path()),
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
            io_manager_name="WarehousePandasIOManager",
        )
