"""Resources shared by every domain, each with its embedded local default."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from data_platform import warehouse
from data_platform.ingestion.orders_api import (
    DEFAULT_MAX_PAGES,
    DemoTransport,
    OrdersApiClient,
    Transport,
)
from data_platform.paths import WAREHOUSE_ENV
from data_platform.run_launcher import LocalRunLauncher
from data_platform.warehouse import target

if TYPE_CHECKING:
    import duckdb

# Dagster pool of every asset that writes the warehouse: DuckDB admits one writing process, and
# dagster.yaml gives this pool a single slot.
WAREHOUSE_POOL = "warehouse"
ORDERS_API_URL_ENV = "ORDERS_API_URL"
ORDERS_API_TOKEN_ENV = "ORDERS_API_TOKEN"


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse: a DuckDB file (one writer, its lock waited out) or a DuckLake (many
    writers, conflicts retried). Unset fields fall back to the environment at run time
    ($DATA_PLATFORM_WAREHOUSE, $DATA_PLATFORM_LAKE_DATA_PATH, $DATA_PLATFORM_S3_*), so the local
    default needs none; a deployment may pass `s3_secret=dg.EnvVar("DATA_PLATFORM_S3_SECRET")`.
    """

    path: str | None = Field(
        default=None,
        description="DuckDB file or DuckLake URI (ducklake:postgres:...); default "
        "$DATA_PLATFORM_WAREHOUSE or .data/warehouse.duckdb.",
    )
    lake_data_path: str | None = Field(
        default=None, description="DuckLake data: a folder or s3://bucket/prefix."
    )
    s3_endpoint: str | None = Field(default=None, description="S3 host:port (not AWS).")
    s3_region: str | None = None
    s3_url_style: str | None = Field(default=None, description="vhost or path.")
    s3_use_ssl: bool | None = None
    s3_key_id: str | None = None
    s3_secret: str | None = Field(default=None, description="Secret: only via dg.EnvVar.")
    lock_timeout_seconds: float = Field(
        default=600.0, ge=0, le=86_400, description="How long to wait for another process's lock."
    )

    def target(self) -> warehouse.Warehouse:
        """The configured warehouse; fails clearly on a value the platform cannot use."""
        env = dict(os.environ)
        fields = {
            WAREHOUSE_ENV: self.path,
            target.LAKE_DATA_PATH_ENV: self.lake_data_path,
            target.S3_ENDPOINT_ENV: self.s3_endpoint,
            target.S3_REGION_ENV: self.s3_region,
            target.S3_URL_STYLE_ENV: self.s3_url_style,
            target.S3_USE_SSL_ENV: None if self.s3_use_ssl is None else str(self.s3_use_ssl),
            target.S3_KEY_ID_ENV: self.s3_key_id,
            target.S3_SECRET_ENV: self.s3_secret,
        }
        env.update({k: v for k, v in fields.items() if v is not None})
        return target.warehouse_from_env(env)

    @property
    def is_lake(self) -> bool:
        return self.target().is_lake

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Before this run's steps claim the `warehouse` slot: free it from runs that died
        holding it (steps run in process, so a crash takes the run and its slot), which only a
        daemon's run monitoring would do otherwise; a CLI run on a daemon-less instance waits
        for it forever."""
        launcher = context.instance.run_launcher if context.instance is not None else None
        if isinstance(launcher, LocalRunLauncher):
            freed = launcher.free_dead_holders(WAREHOUSE_POOL)
            if freed and context.log is not None:
                context.log.warning(f"freed pool {WAREHOUSE_POOL!r} slots of dead runs {freed}")

    def resolved_path(self) -> Path:
        """The DuckDB file (a file warehouse only)."""
        resolved = self.target()
        if not isinstance(resolved, warehouse.FileWarehouse):
            raise warehouse.WarehouseConfigError("the warehouse is a DuckLake, not a DuckDB file")
        return resolved.path

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(
            self.target(), read_only=read_only, lock_timeout_seconds=self.lock_timeout_seconds
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
            from data_platform.ingestion.http_transport import HttpTransport  # imports requests

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


class WarehousePandasIOManager(dg.ConfigurableIOManagerFactory):
    """dagster-duckdb-pandas' I/O manager on the warehouse: DataFrame outputs become tables of
    schema `analysis` (a partitioned asset's day replaced by its partition_expr column). Built
    in `data_platform.pandas_io` when a step needs it, so loading the definitions skips pandas."""

    database: str = Field(
        default="", description="DuckDB file or DuckLake URI; default as WarehouseResource."
    )
    schema_: str | None = Field(default="analysis", alias="schema")
    lock_timeout_seconds: float = Field(default=600.0, ge=0, le=86_400)

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.IOManager:
        from data_platform.pandas_io import pandas_io_manager

        return pandas_io_manager(self.database, self.schema_)
