"""The code location loads, validates, and declares every asset, check, job, sensor and schedule."""

import dagster as dg
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from data_platform.definitions import defs

EXPECTED_ASSETS = {"raw_orders", "raw_order_items", "raw_customers", "raw_users"}
EXPECTED_CHECKS = {
    ("raw_orders", "partition_not_empty"),
    ("raw_orders", "order_date_within_partition"),
    ("raw_orders", "required_fields_not_null"),
    ("raw_orders", "null_customer_share"),
}
EXPECTED_JOBS = {"daily_ingestion_job", "users_refresh_job"}
EXPECTED_SCHEDULES = {"daily_ingestion_schedule", "users_refresh_schedule"}


def test_definitions_validate() -> None:
    dg.Definitions.validate_loadable(defs)


def test_every_expected_object_is_declared() -> None:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    assets = {key.to_user_string() for key in graph.get_all_asset_keys()}
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert not EXPECTED_ASSETS - assets
    assert not EXPECTED_CHECKS - checks
    assert not EXPECTED_JOBS - {job.name for job in repo.get_all_jobs()}
    assert not EXPECTED_SCHEDULES - {s.name for s in repo.schedule_defs}


def test_partitioned_raw_assets_backfill_in_one_run() -> None:
    graph = defs.get_repository_def().asset_graph
    for name in ("raw_orders", "raw_order_items", "raw_customers"):
        node = graph.get(dg.AssetKey(name))
        assert node.partitions_def is not None
        assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_every_warehouse_writer_is_in_the_warehouse_pool() -> None:
    for assets_def in defs.get_repository_def().assets_defs_by_key.values():
        for spec in assets_def.specs:
            if spec.key.to_user_string() in EXPECTED_ASSETS:
                assert assets_def.op.pool == "warehouse", spec.key


def definitions_graph() -> dict[str, object]:
    """What a reviewer should see change: every asset with its deps, group, owners, kinds,
    partitions, pool and checks (with severity-bearing blocking flags), and every job, sensor
    and schedule by name."""
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    checks_by_asset: dict[str, list[dict[str, object]]] = {}
    for key in sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.path, k.name)):
        spec = graph.get_check_spec(key)
        checks_by_asset.setdefault(key.asset_key.to_user_string(), []).append(
            {"name": key.name, "blocking": spec.blocking}
        )
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.path):
        node = graph.get(key)
        name = key.to_user_string()
        assets[name] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "group": node.group_name,
            "owners": sorted(node.owners),
            "kinds": sorted(node.kinds),
            "partitions": type(node.partitions_def).__name__ if node.partitions_def else None,
            "pool": (node.pools and sorted(node.pools)) or None,
            "freshness": str(node.freshness_policy) if node.freshness_policy else None,
            "checks": checks_by_asset.get(name, []),
        }
    return {
        "assets": assets,
        "jobs": sorted(job.name for job in repo.get_all_jobs()),
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "schedules": sorted(s.name for s in repo.schedule_defs),
    }


def test_the_asset_graph_changes_only_when_reviewed(snapshot: SnapshotAssertion) -> None:
    """A changed asset, dependency, owner or check fails here until the snapshot is refreshed
    (`pytest data_platform_tests/test_definitions.py --snapshot-update`) and the diff reviewed."""
    assert definitions_graph() == snapshot(extension_class=JSONSnapshotExtension)


def test_every_asset_has_an_owner_a_group_and_kinds() -> None:
    assets = definitions_graph()["assets"]
    assert isinstance(assets, dict) and assets
    for name, asset in assets.items():
        assert asset["owners"] and asset["group"] and asset["kinds"], (name, asset)


def test_catalog_descriptions_are_the_dbt_yaml_not_sql() -> None:
    graph = defs.get_repository_def().asset_graph
    fact_orders = graph.get(dg.AssetKey("fact_orders"))
    assert fact_orders.description and fact_orders.description.startswith("One row per ")
    for key in graph.get_all_asset_keys():
        description = graph.get(key).description or ""
        assert "Raw SQL" not in description and "select" not in description.lower(), key


def test_checks_declare_severity_and_errors_that_guard_downstream_block() -> None:
    """Every check of ours states its severity on the spec (dbt tests carry theirs from dbt);
    the raw_orders ERROR checks block staging and the mart."""
    graph = defs.get_repository_def().asset_graph
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        if "dbt" in graph.get(key.asset_key).kinds:
            continue
        severity = spec.metadata["severity"]
        assert severity in ("ERROR", "WARN"), key
        assert spec.description.startswith(f"[{severity}"), key
        assert spec.blocking == spec.metadata["blocking"], key
        assert not spec.blocking or severity == "ERROR", key
    blocking = {
        k.name for k in graph.asset_check_keys if graph.get_check_spec(k).blocking
        and k.asset_key == dg.AssetKey("raw_orders")
    }  # fmt: skip
    assert blocking == {
        "partition_not_empty",
        "order_date_within_partition",
        "required_fields_not_null",
    }
