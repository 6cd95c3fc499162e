"""dbt tests become Dagster asset checks: a row that breaks one fails the matching check."""

from datetime import date
from pathlib import Path
from types import ModuleType

import dagster as dg
import pytest

from data_platform_tests.dbt.crafted import insert_orders

pytestmark = pytest.mark.both_backends

DAY = date(2024, 5, 10)


def build(assets: ModuleType, resources: dict) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [assets.dbt_models],
        resources=resources,
        partition_key=DAY.isoformat(),
        raise_on_error=False,
    )


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_unknown_status_fails_the_staging_check_and_blocks_the_mart(
    dbt_assets_module: ModuleType, resources: dict, warehouse_path: Path
) -> None:
    insert_orders(warehouse_path, DAY, [
        {"order_id": "OK-1", "status": "shipped"},
        {"order_id": "BAD-1", "status": "lost in space"},
    ])  # fmt: skip

    result = build(dbt_assets_module, resources)

    assert not result.success
    failed = checks(result)["not_null_stg_orders_standardized_status"]
    assert failed.asset_key == dg.AssetKey("stg_orders")
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert failed.metadata["dagster_dbt/failed_row_count"].value == 1
    assert checks(result)["unique_stg_orders_order_id"].passed
    materialized = {m.asset_key for m in result.get_asset_materialization_events()}
    assert dg.AssetKey("fact_orders") not in materialized  # downstream of the failed step


def test_negative_total_fails_the_singular_check_on_fact_orders(
    dbt_assets_module: ModuleType, resources: dict, warehouse_path: Path
) -> None:
    insert_orders(warehouse_path, DAY, [
        {"order_id": "OK-1", "total_amount": "$12.00"},
        {"order_id": "NEG-1", "total_amount": "-$5.00"},
        {"order_id": "NEG-2", "total_amount": "USD -1,000.00"},
    ])  # fmt: skip

    result = build(dbt_assets_module, resources)

    assert not result.success
    failed = checks(result)["fact_orders_no_negative_totals"]
    assert failed.asset_key == dg.AssetKey("fact_orders")
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert failed.metadata["dagster_dbt/failed_row_count"].value == 2
    # The UI shows no partition for a check of a range step: the metadata names the days.
    assert failed.metadata["partition_range"].value == f"{DAY}...{DAY}"
