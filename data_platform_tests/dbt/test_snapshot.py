"""users_snapshot: SCD2 history of raw.users through Dagster and real dbt."""

from pathlib import Path
from types import ModuleType

import dagster as dg
import pytest

from data_platform.warehouse import FileWarehouse
from data_platform_tests.conftest import query
from data_platform_tests.dbt.crafted import upsert_users

pytestmark = pytest.mark.both_backends


def snapshot(assets: ModuleType, resources: dict) -> None:
    assert dg.materialize([assets.dbt_snapshots], resources=resources).success


def history(path: Path, user_id: str) -> list[tuple]:
    return query(
        path,
        """SELECT email, dbt_valid_to IS NULL AS is_open FROM snapshots.users_snapshot
           WHERE user_id = ? ORDER BY dbt_valid_from, dbt_valid_to NULLS LAST""",
        [user_id],
    )


def test_changed_email_closes_old_row_and_deleted_user_is_closed(
    dbt_assets_module: ModuleType, resources: dict, warehouse_path: Path
) -> None:
    upsert_users(warehouse_path, [
        ("U1", "ava@example.com", "10 Main St", "active"),
        ("U2", "ben@example.com", "20 Oak Ave", "active"),
        ("U3", "cleo@example.com", "30 Elm St", "active"),
    ])  # fmt: skip
    snapshot(dbt_assets_module, resources)
    upsert_users(warehouse_path, [
        ("U1", "ava.new@example.com", "10 Main St", "active"),  # email changed
        ("U3", "cleo@example.com", "30 Elm St", "active"),  # unchanged; U2 hard-deleted
    ])  # fmt: skip
    snapshot(dbt_assets_module, resources)

    assert history(warehouse_path, "U1") == [
        ("ava@example.com", False),
        ("ava.new@example.com", True),
    ]
    assert history(warehouse_path, "U2") == [("ben@example.com", False)]
    assert history(warehouse_path, "U3") == [("cleo@example.com", True)]
    assert query(warehouse_path, "SELECT COUNT(*) FROM snapshots.users_snapshot") == [(4,)]


def test_users_refresh_then_snapshot_records_demo_history(
    dbt_assets_module: ModuleType, resources: dict, users_asset: dg.AssetsDefinition
) -> None:
    """raw_users as of two dates, each followed by the snapshot, as users_refresh_job runs."""
    for as_of in ("2024-01-01", "2024-04-01"):
        result = dg.materialize(
            [users_asset, dbt_assets_module.dbt_snapshots],
            resources=resources,
            run_config={"ops": {"raw_users": {"config": {"as_of": as_of}}}},
        )
        assert result.success
    path = resources["warehouse"].target()
    path = path.path if isinstance(path, FileWarehouse) else path
    changed = query(path, "SELECT COUNT(*) FROM (SELECT user_id FROM snapshots.users_snapshot "
                          "GROUP BY 1 HAVING COUNT(*) > 1)")[0][0]  # fmt: skip
    assert changed > 0
    # Every user has exactly one open row unless deleted.
    current = query(path, "SELECT COUNT(*) FROM raw.users")[0][0]
    open_rows = query(path, "SELECT COUNT(*) FROM snapshots.users_snapshot "
                            "WHERE dbt_valid_to IS NULL")[0][0]  # fmt: skip
    assert open_rows == current
