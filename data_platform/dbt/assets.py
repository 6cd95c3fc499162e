"""The dbt project as three asset definitions: the partitioned mart, the snapshot, the rest.

Each runs `dbt build` (models or snapshots plus their tests, which become asset checks) in the
"warehouse" pool, because dbt writes the DuckDB file and DuckDB admits one writer. Unit tests
check the SQL, not the data: `make test` runs them, the asset builds leave them out.
"""

import json
from collections.abc import Iterator

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from data_platform.dbt.project import dbt_project
from data_platform.dbt.runner import DbtEvent, partition_vars, run_dbt
from data_platform.dbt.translator import DataPlatformDbtTranslator
from data_platform.partitions import daily_partitions
from data_platform.resources import WAREHOUSE_POOL, WarehouseResource

INCREMENTAL = "config.materialized:incremental"
SNAPSHOTS = "resource_type:snapshot"
BUILD = ["build", "--exclude-resource-type", "unit_test"]

translator = DataPlatformDbtTranslator()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=INCREMENTAL,
    dagster_dbt_translator=translator,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def dbt_partitioned_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[DbtEvent]:
    """Incremental marts: one dbt invocation replaces exactly the run's days (a range too)."""
    dbt_vars = partition_vars(context)
    yield from run_dbt(context, dbt, warehouse, [*BUILD, "--vars", json.dumps(dbt_vars)], dbt_vars)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=f"{INCREMENTAL} {SNAPSHOTS}",
    dagster_dbt_translator=translator,
    pool=WAREHOUSE_POOL,
)
def dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[DbtEvent]:
    """Unpartitioned models (the staging views over every raw day)."""
    yield from run_dbt(context, dbt, warehouse, BUILD)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=SNAPSHOTS,
    dagster_dbt_translator=translator,
    pool=WAREHOUSE_POOL,
)
def dbt_snapshots(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[DbtEvent]:
    """SCD2 snapshots; each run records the changes since the last one."""
    yield from run_dbt(context, dbt, warehouse, BUILD)
