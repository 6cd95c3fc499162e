"""The dbt layer in the code location: flat keys, groups, lineage from raw, checks, pools, jobs."""

from pathlib import Path

import dagster as dg
import pytest


@pytest.fixture(scope="module")
def defs(dbt_manifest: Path) -> dg.Definitions:
    from data_platform.definitions import defs

    return defs


def test_dbt_nodes_have_flat_keys_schema_groups_and_raw_lineage(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    expected = {
        "stg_orders": ("staging", {"raw_orders"}),
        "stg_order_items": ("staging", {"raw_order_items"}),
        "stg_customers": ("staging", {"raw_customers"}),
        "fact_orders": ("marts", {"stg_orders", "stg_order_items", "stg_customers"}),
        "users_snapshot": ("snapshots", {"raw_users"}),
    }
    for key, (group, parents) in expected.items():
        node = graph.get(dg.AssetKey(key))
        assert node.group_name == group
        assert {p.to_user_string() for p in node.parent_keys} == parents
    assert graph.get(dg.AssetKey("fact_orders")).partitions_def is not None
    assert graph.get(dg.AssetKey("stg_orders")).partitions_def is None


def test_dbt_tests_are_checks_on_their_models(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("stg_orders", "unique_stg_orders_order_id") in checks
    assert ("stg_orders", "stg_orders_unparseable_amounts") in checks
    assert ("fact_orders", "fact_orders_no_negative_totals") in checks
    assert (
        "fact_orders", "relationships_fact_orders_customer_id__customer_id__ref_stg_customers_"
    ) in checks  # fmt: skip
    assert ("users_snapshot", "unique_users_snapshot_dbt_scd_id") in checks


def test_every_dbt_asset_writes_through_the_warehouse_pool(dbt_manifest: Path) -> None:
    from data_platform.dbt import assets

    for definition in (assets.dbt_models, assets.dbt_snapshots):
        assert definition.op.pool == "warehouse"
    assert assets.dbt_models.backfill_policy == dg.BackfillPolicy.single_run()


def test_jobs_cover_raw_to_mart_and_users_to_snapshot(defs: dg.Definitions) -> None:
    daily = defs.resolve_job_def("daily_ingestion_job")
    daily_keys = {k.to_user_string() for k in daily.asset_layer.selected_asset_keys}
    assert {"raw_orders", "stg_orders", "fact_orders"} <= daily_keys
    assert "users_snapshot" not in daily_keys
    users = defs.resolve_job_def("users_refresh_job")
    assert {k.to_user_string() for k in users.asset_layer.selected_asset_keys} == {
        "raw_users", "users_snapshot"
    }  # fmt: skip
