"""The dbt project as two asset definitions: the models and the snapshot.

Each runs `dbt build` (models or snapshots plus their tests, which become asset checks) in the
"warehouse" pool, because dbt writes the DuckDB file and DuckDB admits one writer. The models
are one definition although the incremental mart is daily-partitioned and the staging views are
not (the translator partitions each spec): a run that selects both, such as the daily chain,
builds them in one dbt invocation instead of paying dbt's start-up twice. Unit tests
check the SQL, not the data: `make test` runs them, the asset builds leave them out. The
definitions are dagster-dbt's `@dbt_assets`, loaded from their cached specs (`spec_cache`).
"""

from collections.abc import Iterator

import dagster as dg

from data_platform.dbt.project import DbtResource, prepare_if_dev
from data_platform.dbt.runner import DbtEvent, partition_vars, run_dbt
from data_platform.dbt.spec_cache import DbtSelection, cached_dbt_assets
from data_platform.resources import WAREHOUSE_POOL, WarehouseResource

SNAPSHOTS = "resource_type:snapshot"
BUILD = ["build", "--exclude-resource-type", "unit_test"]

MODELS = DbtSelection(
    name="dbt_models",
    exclude=SNAPSHOTS,
    # A range of days of the partitioned mart is one dbt invocation.
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
SNAPSHOT_MODELS = DbtSelection(name="dbt_snapshots", select=SNAPSHOTS, pool=WAREHOUSE_POOL)
SELECTIONS = (MODELS, SNAPSHOT_MODELS)

prepare_if_dev()


@cached_dbt_assets(MODELS)
def dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtResource, warehouse: WarehouseResource
) -> Iterator[DbtEvent]:
    """The staging views (over every raw day) and the incremental mart, whose build replaces
    exactly the run's days (a range too) when the run has partitions."""
    yield from run_dbt(context, dbt, warehouse, BUILD, partition_vars(context))


@cached_dbt_assets(SNAPSHOT_MODELS)
def dbt_snapshots(
    context: dg.AssetExecutionContext, dbt: DbtResource, warehouse: WarehouseResource
) -> Iterator[DbtEvent]:
    """SCD2 snapshots; each run records the changes since the last one."""
    yield from run_dbt(context, dbt, warehouse, BUILD)
