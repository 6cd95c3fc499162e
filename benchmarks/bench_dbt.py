"""Benchmark: 30 days of raw -> staging -> fact_orders as one range run vs one run per day.

Both modes run the same assets through Dagster with real dbt on their own temp DuckDB file and
temp DAGSTER_HOME instance; the range run makes one dbt invocation per dbt step for all days,
the daily mode one per day (as the daily schedule would when catching up day by day).
Set BENCH_DBT_DAYS to change the number of days.
"""

import contextlib
import io
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from data_platform.dbt.project import dbt_resource, ensure_manifest
from data_platform.resources import OrdersApiResource, WarehouseResource

FIRST_DAY = date(2024, 2, 1)


def _assets() -> list[dg.AssetsDefinition]:
    from data_platform.dbt import assets as dbt_assets
    from data_platform.ingestion import assets as raw

    return [raw.raw_orders, raw.raw_order_items, raw.raw_customers, dbt_assets.dbt_models]


def _resources(path: Path) -> dict:
    return {"warehouse": WarehouseResource(path=str(path)), "orders_api": OrdersApiResource(),
            "dbt": dbt_resource()}  # fmt: skip


def _fact_rows(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("SELECT COUNT(*) FROM marts.fact_orders").fetchone()[0]


def _range_run(path: Path, days: list[date], instance: dg.DagsterInstance) -> None:
    result = dg.materialize(
        _assets(), resources=_resources(path), instance=instance,
        tags={"dagster/asset_partition_range_start": days[0].isoformat(),
              "dagster/asset_partition_range_end": days[-1].isoformat()},
    )  # fmt: skip
    assert result.success


def _daily_runs(path: Path, days: list[date], instance: dg.DagsterInstance) -> None:
    for day in days:
        result = dg.materialize(
            _assets(), resources=_resources(path), instance=instance, partition_key=day.isoformat()
        )
        assert result.success


def run() -> None:
    ensure_manifest()
    n_days = int(os.environ.get("BENCH_DBT_DAYS", "30"))
    days = [FIRST_DAY + timedelta(days=i) for i in range(n_days)]
    timings: dict[str, float] = {}
    rows: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench_dbt_") as tmp:
        for mode, execute in (("range", _range_run), ("daily", _daily_runs)):
            home = Path(tmp) / f"dagster_home_{mode}"
            home.mkdir()
            path = Path(tmp) / f"{mode}.duckdb"
            with dg.instance_for_test(temp_dir=str(home)) as instance:
                started = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):  # dbt's own log lines
                    execute(path, days, instance)
                timings[mode] = time.perf_counter() - started
            rows[mode] = _fact_rows(path)
    assert rows["range"] == rows["daily"], rows
    print(f"{n_days} days of raw -> staging -> fact_orders ({rows['range']} fact rows):")
    print(f"  one range run      {timings['range']:7.1f} s")
    print(
        f"  one run per day    {timings['daily']:7.1f} s  ({timings['daily'] / n_days:.1f} s/day)"
    )
    print(f"  ratio daily/range  {timings['daily'] / timings['range']:7.1f}x")
