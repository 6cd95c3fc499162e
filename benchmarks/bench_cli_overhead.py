"""Per-run overhead of the CLI path, each figure beside its floor in the same run (medians of 3,
each a fresh process, each on a day not loaded before):

- `dagster asset materialize --select raw_orders --partition D` on the code location vs the same
  command on a one-asset, in-process definitions file (goal <= 1.5x the floor);
- `import data_platform.definitions` vs `import dagster` (goal <= 1.5x);
- the daily chain for one day (raw assets, staging, fact_orders with its checks) in one
  `dagster asset materialize` vs the floor plus a standalone `dbt build` of the same models for
  that day (goal <= floor + dbt build + 3 s).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from data_platform.dbt.project import DBT_PROJECT_DIR, dbt_executable, ensure_manifest

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).with_name("dagster"))
REPEAT = 3
FLOOR_DEFS = """
import dagster as dg


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01"))
def one() -> None:
    pass


defs = dg.Definitions(assets=[one], executor=dg.in_process_executor)
"""
DBT_MODELS = ["stg_orders", "stg_order_items", "stg_customers", "fact_orders"]
CHAIN = ",".join(["raw_orders", "raw_order_items", "raw_customers", *DBT_MODELS])


def _wall(command: list[str], env: dict[str, str], cwd: Path = REPO_ROOT) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def _median(measure: Callable[[int], float]) -> float:
    return statistics.median(measure(i) for i in range(REPEAT))


def _environment(root: Path) -> dict[str, str]:
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    dg.DagsterInstance.from_config(str(home)).dispose()  # storage created once, up front
    dropped = ("ORDERS_API_URL", "DATA_PLATFORM_FAULTS", "DAGSTER_IS_DEV_CLI")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        DAGSTER_HOME=str(home),
        DATA_PLATFORM_STATE_DIR=str(root / "state"),
        DATA_PLATFORM_WAREHOUSE=str(root / "warehouse.duckdb"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def _materialize(target: list[str], select: str, day: str) -> list[str]:
    return [DAGSTER, "asset", "materialize", *target, "--select", select, "--partition", day]


def _dbt_build(day: str) -> list[str]:
    next_day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    return [dbt_executable(), "build", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--select", *DBT_MODELS,
            "--vars", json.dumps({"min_date": day, "max_date": next_day})]  # fmt: skip


def run() -> None:
    ensure_manifest()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        root = Path(tmp)
        env = _environment(root)
        floor_file = root / "floor_defs.py"
        floor_file.write_text(FLOOR_DEFS)
        floor_target = ["-f", str(floor_file)]
        defs_target = ["-m", "data_platform.definitions"]
        python = [sys.executable, "-W", "ignore", "-c"]

        floor = _median(
            lambda i: _wall(_materialize(floor_target, "one", f"2024-01-0{i + 1}"), env)
        )
        raw = _median(
            lambda i: _wall(_materialize(defs_target, "raw_orders", f"2024-01-0{i + 1}"), env)
        )
        dagster_import = _median(lambda i: _wall([*python, "import dagster"], env))
        defs_import = _median(lambda i: _wall([*python, "import data_platform.definitions"], env))
        chain = _median(lambda i: _wall(_materialize(defs_target, CHAIN, f"2024-02-0{i + 1}"), env))
        # The same models for the same (already loaded) days, by dbt alone.
        dbt = _median(lambda i: _wall(_dbt_build(f"2024-02-0{i + 1}"), env, DBT_PROJECT_DIR))

    print(f"CLI overhead (medians of {REPEAT}; load average {os.getloadavg()[0]:.1f}):")
    print(f"  floor: one-asset in-process materialize   {floor:6.2f} s")
    print(f"  materialize raw_orders, one day           {raw:6.2f} s  = {raw / floor:.2f}x floor"
          f"  (goal <= 1.5x)")  # fmt: skip
    print(f"  import dagster                            {dagster_import:6.2f} s")
    print(f"  import data_platform.definitions          {defs_import:6.2f} s  = "
          f"{defs_import / dagster_import:.2f}x (goal <= 1.5x)")  # fmt: skip
    print(f"  standalone dbt build of {len(DBT_MODELS)} models, one day  {dbt:6.2f} s")
    budget = floor + dbt + 3
    print(f"  daily chain, one day (raw + staging + fact_orders + checks) {chain:6.2f} s vs "
          f"floor + dbt build + 3 s = {budget:.2f} s: {chain - floor - dbt:+.2f} s over floor + "
          f"dbt (goal <= +3 s)")  # fmt: skip
