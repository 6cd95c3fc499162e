"""Raw assets: the orders API's collections landed as-is in the DuckDB `raw` schema.

Partitioned assets load their run's whole partition range in one step (single-run backfills),
replacing each day in its own transaction, so re-running any day is idempotent.
"""

import warnings
from collections.abc import Callable, Set
from datetime import date
from typing import Any, TypedDict

import dagster as dg

from data_platform.ingestion.checks import RAW_ORDERS_CHECKS, raw_orders_check_results
from data_platform.ingestion.dates import parse_day
from data_platform.ingestion.loading import (
    load_days,
    load_unpartitioned,
    materialization_metadata,
)
from data_platform.partitions import daily_partitions
from data_platform.resources import WAREHOUSE_POOL, OrdersApiResource, WarehouseResource

# Who answers for these assets in the UI's catalog (a team, as Dagster's owners allow).
OWNERS = ["team:ingestion"]


class _AssetOptions(TypedDict):
    group_name: str
    owners: list[str]
    partitions_def: dg.PartitionsDefinition[str]
    backfill_policy: dg.BackfillPolicy
    pool: str
    kinds: Set[str]


_partitioned = _AssetOptions(
    group_name="ingestion",
    owners=OWNERS,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
)


def _partitioned_asset(**extra: Any) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """`@dg.asset` with the shared options. Dagster 1.13 marks `backfill_policy` beta on `@asset`
    (not on `@multi_asset`, where the dbt assets set it), and the single-run policy is what a
    range needs: that one warning is silenced here, so start-up logs stay free of it."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning
        )
        return dg.asset(**_partitioned, **extra)


@_partitioned_asset(check_specs=RAW_ORDERS_CHECKS)
def raw_orders(
    context: dg.AssetExecutionContext, orders_api: OrdersApiResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Orders as the API sends them (amounts as text, raw statuses, duplicates kept)."""
    summary = load_days(context, "orders", orders_api, warehouse)
    if summary.first_day is None or summary.last_day is None:  # a run always has its days
        raise dg.Failure(f"raw_orders loaded no day for partitions {context.partition_keys}")
    with warehouse.connect() as conn:
        checks = raw_orders_check_results(conn, summary.first_day, summary.last_day)
    return dg.MaterializeResult(metadata=materialization_metadata(summary), check_results=checks)


@_partitioned_asset()
def raw_order_items(
    context: dg.AssetExecutionContext, orders_api: OrdersApiResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Order lines: product, quantity and unit price per order."""
    summary = load_days(context, "order_items", orders_api, warehouse)
    return dg.MaterializeResult(metadata=materialization_metadata(summary))


@_partitioned_asset()
def raw_customers(
    context: dg.AssetExecutionContext, orders_api: OrdersApiResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Customers active on each day, with their current attributes."""
    summary = load_days(context, "customers", orders_api, warehouse)
    return dg.MaterializeResult(metadata=materialization_metadata(summary))


class UsersConfig(dg.Config):
    as_of: str | None = None  # YYYY-MM-DD: read the users table as of this day (default today)


@dg.asset(group_name="ingestion", owners=OWNERS, pool=WAREHOUSE_POOL, kinds={"duckdb", "python"})
def raw_users(
    context: dg.AssetExecutionContext,
    config: UsersConfig,
    orders_api: OrdersApiResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """The users table as it is now, replaced whole; history is kept by the dbt snapshot."""
    as_of: date | None = parse_day(config.as_of) if config.as_of else None
    summary = load_unpartitioned(context, "users", orders_api, warehouse, as_of)
    metadata = materialization_metadata(summary)
    if as_of is not None:
        metadata["as_of"] = dg.MetadataValue.text(as_of.isoformat())
    return dg.MaterializeResult(metadata=metadata)
