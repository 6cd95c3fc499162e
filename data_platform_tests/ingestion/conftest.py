from collections.abc import Iterator

import dagster as dg
import pytest

from data_platform.ingestion.assets import raw_customers, raw_order_items, raw_orders, raw_users
from data_platform.resources import OrdersApiResource, WarehouseResource

RAW_ASSETS = [raw_orders, raw_order_items, raw_customers]


@pytest.fixture
def resources(warehouse: WarehouseResource, orders_api: OrdersApiResource) -> dict:
    return {"warehouse": warehouse, "orders_api": orders_api}


def materialize_range(
    assets: list, resources: dict, first: str, last: str, instance: dg.DagsterInstance | None = None
) -> dg.ExecuteInProcessResult:
    """One single-run backfill of [first, last], as the UI and CLI launch it."""
    return dg.materialize(
        assets,
        resources=resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )


@pytest.fixture
def users_asset() -> Iterator:
    yield raw_users
