"""The dbt definitions loaded from the spec cache are the ones dagster-dbt builds, and a cache
that no longer matches is rebuilt rather than trusted."""

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
import pytest

from data_platform.dbt import spec_cache
from data_platform.resources import WarehouseResource
from data_platform_tests.dbt.conftest import ORDERS_PER_DAY


def _spec_view(spec: dg.AssetSpec) -> dict[str, Any]:
    return {
        "deps": {d.asset_key: dict(d.metadata) for d in spec.deps},
        "description": spec.description,
        "metadata": {k: v for k, v in spec.metadata.items() if k not in spec_cache.OBJECT_METADATA},
        "skippable": spec.skippable,
        "group": spec.group_name,
        "code_version": spec.code_version,
        "owners": list(spec.owners),
        "tags": dict(spec.tags),
        "kinds": set(spec.kinds),
        "partitions": spec.partitions_def,
    }


def _definition_view(definition: dg.AssetsDefinition) -> dict[str, Any]:
    return {
        "specs": {spec.key: _spec_view(spec) for spec in definition.specs},
        "checks": {
            c.key: (c.description, c.blocking, c.additional_deps, dict(c.metadata or {}))
            for c in definition.check_specs
        },
        "op_tags": dict(definition.op.tags),
        "pool": definition.op.pool,
        "backfill_policy": definition.backfill_policy,
        "partitions": definition.partitions_def,
        "can_subset": definition.can_subset,
        "resources": definition.required_resource_keys,
    }


@pytest.mark.parametrize("name", ["dbt_models", "dbt_snapshots"])
def test_cached_definition_equals_dagster_dbts(dbt_assets_module: ModuleType, name: str) -> None:
    cached = getattr(dbt_assets_module, name)
    selection = next(s for s in dbt_assets_module.SELECTIONS if s.name == name)
    built = spec_cache.build_with_dagster_dbt(selection, cached.op.compute_fn.decorated_fn)
    assert cached.specs, name
    assert _definition_view(cached) == _definition_view(built)


def test_a_stale_entry_is_rebuilt_by_dagster_dbt(
    dbt_assets_module: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spec_cache, "CACHE_DIR", tmp_path)
    selection = dbt_assets_module.MODELS
    fn = dbt_assets_module.dbt_models.op.compute_fn.decorated_fn
    (tmp_path / f"{selection.name}.json").write_text(
        json.dumps({"fingerprint": "from another manifest", "specs": [], "check_specs": []})
    )
    rebuilt = spec_cache.cached_dbt_assets(selection)(fn)
    assert rebuilt.specs, "an entry of another manifest was trusted"
    assert _definition_view(rebuilt) == _definition_view(dbt_assets_module.dbt_models)
    stored = json.loads((tmp_path / f"{selection.name}.json").read_text())
    assert stored["fingerprint"] == selection.fingerprint()
    assert len(stored["specs"]) == len(list(rebuilt.specs))
    # The next load reads the entry just stored: the same definition, without dagster-dbt's
    # in-memory manifest in its metadata.
    again = spec_cache.cached_dbt_assets(selection)(fn)
    assert _definition_view(again) == _definition_view(rebuilt)
    assert all("dagster_dbt/manifest" not in spec.metadata for spec in again.specs)


def test_a_subset_step_builds_only_the_selected_model_and_its_checks(
    dbt_assets_module: ModuleType, three_days: Path, resources: dict
) -> None:
    """Selecting one staging model of the cached `dbt_models` runs dbt for that model and its
    tests only (dagster-dbt's subset selection), and reports nothing else."""
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [dbt_assets_module.dbt_models],
            selection=[dg.AssetKey("stg_orders")],
            resources={**resources, "warehouse": WarehouseResource(path=str(three_days))},
            instance=instance,
        )
    assert result.success
    built = {e.asset_key.to_user_string() for e in result.asset_materializations_for_node(
        "dbt_models")}  # fmt: skip
    assert built == {"stg_orders"}
    checks = {e.asset_key.to_user_string() for e in result.get_asset_check_evaluations()}
    assert checks == {"stg_orders"}
    assert (
        result.asset_materializations_for_node("dbt_models")[0].metadata["dagster/row_count"].value
        == 3 * ORDERS_PER_DAY
    )


def test_the_dbt_resource_knows_the_version_of_the_dbt_it_runs() -> None:
    """The step's dbt resource skips dagster-dbt's `dbt --version` subprocess by reading the
    installed dbt-core's version: it must be the version the executable it runs reports."""
    import re
    import subprocess

    from data_platform.dbt.project import DbtResource

    resource = DbtResource().cli_resource()
    reported = subprocess.run(
        [resource.dbt_executable, "--version"], capture_output=True, text=True, check=True
    ).stdout
    installed = re.search(r"installed:\s*(\d+\.\d+\.\d+)", reported)
    assert installed is not None, reported
    assert str(resource._cli_version) == installed.group(1)
