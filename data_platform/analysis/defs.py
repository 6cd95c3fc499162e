"""Everything the analysis layer contributes to the code location."""

import dagster as dg

from data_platform.analysis.assets import IO_MANAGER_KEY, daily_order_summary
from data_platform.resources import WarehousePandasIOManager

defs = dg.Definitions(
    assets=[daily_order_summary],
    resources={IO_MANAGER_KEY: WarehousePandasIOManager()},
)
