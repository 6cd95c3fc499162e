"""`dagster dev` for real: every definition is loaded in the webserver, and a partition backfill
launched through GraphQL (as the UI does) is completed by the daemon."""

from __future__ import annotations

import time
from typing import Any

import pytest

from data_platform.definitions import defs
from data_platform_tests.cli.dagster_dev import DagsterDev

# The backfill's run starts one process per step, each loading the code location: minutes on a
# busy 2-core machine. Session fixtures' set-up counts against the first test that uses them.
pytestmark = [pytest.mark.ui, pytest.mark.timeout(1200)]

INGESTION_ASSETS = ["raw_orders", "raw_order_items", "raw_customers"]
BACKFILL_DAYS = ["2024-02-01", "2024-02-02", "2024-02-03"]
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

LOADED = """
{
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes { name sensors { name } schedules { name } }
    }
  }
  assetNodes {
    assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}"""

LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}"""

BACKFILL = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status numPartitions partitionNames }
    ... on PythonError { message }
  }
}"""

PARTITIONS = """
query($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      partitionStats { numMaterialized numFailed }
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { status startKey endKey } }
      }
    }
  }
}"""


def declared() -> dict[str, set[str]]:
    """What the code location itself declares, computed from `defs` (adapts as domains land)."""
    graph = defs.resolve_asset_graph()
    return {
        "assets": {key.to_user_string() for key in graph.get_all_asset_keys()},
        "checks": {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys},
        "sensors": {s.name for s in defs.sensors or []},
        "schedules": {s.name for s in defs.schedules or []},
    }


def loaded(server: DagsterDev) -> dict[str, set[str]]:
    data = server.graphql(LOADED)
    [repo] = data["repositoriesOrError"]["nodes"]
    nodes = data["assetNodes"]
    return {
        "assets": {"/".join(n["assetKey"]["path"]) for n in nodes},
        "checks": {
            f"{'/'.join(n['assetKey']['path'])}:{c['name']}"
            for n in nodes
            for c in (n["assetChecksOrError"].get("checks") or [])
        },
        "sensors": {s["name"] for s in repo["sensors"]},
        "schedules": {s["name"] for s in repo["schedules"]},
    }


def materialized_days(server: DagsterDev, asset: str) -> set[str]:
    data = server.graphql(PARTITIONS, {"key": {"path": [asset]}})["assetNodeOrError"]
    days: set[str] = set()
    for rng in data["assetPartitionStatuses"]["ranges"]:
        if rng["status"] == "MATERIALIZED":
            days |= {d for d in BACKFILL_DAYS if rng["startKey"] <= d <= rng["endKey"]}
    return days


def run_ingestion_backfill(server: DagsterDev, days: list[str], timeout: float = 720) -> dict:
    params = {"partitionNames": days, "fromFailure": False,
              "assetSelection": [{"path": [a]} for a in INGESTION_ASSETS],
              "title": "ui-test ingestion backfill"}  # fmt: skip
    launched = server.graphql(LAUNCH, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]
    deadline = time.monotonic() + timeout
    while True:
        backfill = server.graphql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        if backfill.get("status") in TERMINAL:
            return backfill
        if time.monotonic() > deadline:
            raise TimeoutError(f"backfill still {backfill} after {timeout}s:\n{server.log()}")
        time.sleep(2)


def test_every_definition_is_loaded(dagster_dev: DagsterDev) -> None:
    expected, actual = declared(), loaded(dagster_dev)
    for kind in ("assets", "checks", "sensors", "schedules"):
        assert actual[kind] == expected[kind], kind
    # Named, so the comparison above cannot pass on two empty sets.
    assert {"raw_orders", "raw_order_items", "raw_customers", "raw_users"} <= actual["assets"]
    assert "raw_orders:partition_not_empty" in actual["checks"]
    assert {"daily_ingestion_schedule", "users_refresh_schedule"} <= actual["schedules"]


def test_partition_backfill_completes_through_the_daemon(
    dagster_dev: DagsterDev, ui_backfill: dict[str, Any]
) -> None:
    assert ui_backfill["status"] in {"COMPLETED", "COMPLETED_SUCCESS"}, dagster_dev.log()
    assert sorted(ui_backfill["partitionNames"]) == BACKFILL_DAYS
    for asset in INGESTION_ASSETS:
        assert materialized_days(dagster_dev, asset) == set(BACKFILL_DAYS), asset
        stats = dagster_dev.graphql(PARTITIONS, {"key": {"path": [asset]}})["assetNodeOrError"]
        assert stats["partitionStats"]["numFailed"] == 0
