"""Everything the dbt layer contributes to the code location."""

import dagster as dg

from data_platform.dbt import assets
from data_platform.dbt.project import dbt_resource

defs = dg.Definitions(
    assets=[assets.dbt_models, assets.dbt_snapshots],
    resources={"dbt": dbt_resource()},
)
