"""A step that runs its whole dbt asset starts dbt before importing dagster-dbt; one that runs a
subset goes through dagster-dbt's `cli`. Both build the same rows and evaluate the same checks on
the same day of the same warehouse, and for the real asset the early start's selection is the one
dagster-dbt computes (and it defers to dagster-dbt wherever that one subsets)."""

from pathlib import Path
from types import ModuleType, SimpleNamespace

import dagster as dg
from dagster_dbt.asset_utils import get_subset_selection_for_context

from data_platform.dbt import early_start
from data_platform.dbt.runner import _translator, manifest
from data_platform_tests.conftest import query
from data_platform_tests.dbt.conftest import THREE_DAYS


def _fact_orders(path: Path, day: str) -> list[tuple]:
    return query(path, "SELECT order_id, customer_name, total_amount, status, item_count, "
                       "order_value_tier FROM marts.fact_orders "
                       "WHERE order_date = ?::DATE ORDER BY 1", [day])  # fmt: skip


def _fact_orders_checks(result: dg.ExecuteInProcessResult) -> list[tuple[str, bool]]:
    return sorted(
        (c.check_name, c.passed)
        for c in result.get_asset_check_evaluations()
        if c.asset_key == dg.AssetKey("fact_orders")
    )


def test_the_whole_asset_starts_dbt_early_and_builds_what_dagster_dbt_builds(
    dbt_assets_module: ModuleType, resources: dict, three_days: Path
) -> None:
    day = THREE_DAYS[1]
    with dg.instance_for_test() as instance:
        whole = dg.materialize(
            [dbt_assets_module.dbt_models], resources=resources, partition_key=day,
            instance=instance,
        )  # fmt: skip
        whole_rows = _fact_orders(three_days, day)
        subset = dg.materialize(
            [dbt_assets_module.dbt_models], selection=["fact_orders"], resources=resources,
            partition_key=day, instance=instance,
        )  # fmt: skip
        logs = {
            name: [entry.user_message for entry in instance.all_logs(result.run_id)]
            for name, result in (("whole", whole), ("subset", subset))
        }
    assert whole.success and subset.success
    assert any(m.startswith(early_start.STARTED_EARLY) for m in logs["whole"])
    assert not any(m.startswith(early_start.STARTED_EARLY) for m in logs["subset"])
    assert _fact_orders(three_days, day) == whole_rows and whole_rows  # rebuilt the same
    assert _fact_orders_checks(whole) == _fact_orders_checks(subset)
    assert _fact_orders_checks(whole)


def _step(assets_def: dg.AssetsDefinition) -> SimpleNamespace:
    """What both selections read of a step's context, for the real asset definition."""
    return SimpleNamespace(
        assets_def=assets_def,
        op=SimpleNamespace(tags=assets_def.op.tags),
        selected_asset_keys=assets_def.keys,
        selected_asset_check_keys=assets_def.check_keys,
    )


def test_the_early_selection_is_dagster_dbts_and_a_subset_is_left_to_it(
    dbt_assets_module: ModuleType,
) -> None:
    models: dg.AssetsDefinition = dbt_assets_module.dbt_models
    tags = models.op.tags

    def dagster_dbt(step: SimpleNamespace) -> tuple[list[str], str | None]:
        return get_subset_selection_for_context(
            context=step,  # type: ignore[arg-type]
            manifest=manifest(),
            select=tags.get("dagster_dbt/select"),
            exclude=tags.get("dagster_dbt/exclude"),
            selector=tags.get("dagster_dbt/selector"),
            dagster_dbt_translator=_translator(),
            current_dbt_indirect_selection_env=None,
        )

    whole = _step(models)
    assert early_start.whole_asset_selection(whole) == dagster_dbt(whole)[0]  # type: ignore[arg-type]
    assert dagster_dbt(whole)[1] is None
    subset = _step(
        models.subset_for(
            {dg.AssetKey("fact_orders")},
            selected_asset_check_keys={k for k in models.check_keys
                                       if k.asset_key == dg.AssetKey("fact_orders")},
        )
    )  # fmt: skip
    assert early_start.whole_asset_selection(subset) is None  # type: ignore[arg-type]
    assert dagster_dbt(subset)[0] != dagster_dbt(whole)[0]
