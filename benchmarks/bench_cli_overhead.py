"""Per-run overhead of the CLI path, each figure beside its floor in the same run (3 rounds, each
command a fresh process on a day not loaded before; the rounds interleave the commands and each
ratio is the median of the rounds' ratios):

- `dagster asset materialize --select raw_orders --partition D` on the code location vs the same
  command on a one-asset, in-process definitions file (goal <= 1.5x the floor);
- `import data_platform.definitions` vs `import dagster` (goal <= 1.5x);
- the daily chain for one day (raw assets, staging, fact_orders with its checks) in one
  `dagster asset materialize` vs the floor plus a standalone `dbt build` of the same models for
  that day, given the day as Dagster gives it (goal <= floor + dbt build + 3 s).
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
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from data_platform.dbt.project import DBT_PROJECT_DIR, dbt_executable, ensure_manifest
from data_platform.dbt.runner import partition_env

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


@dataclass(frozen=True)
class Round:
    """One round's wall times (seconds), each command a fresh process."""

    floor: float
    raw: float
    dagster_import: float
    defs_import: float
    chain: float
    dbt: float
    dbt_vars: float


def _each(rounds: list[Round], figure: Callable[[Round], float], unit: str) -> str:
    return " / ".join(f"{figure(r):+.2f} s" if unit == "s" else f"{figure(r):.2f}x" for r in rounds)


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


def _window(day: str) -> dict[str, str]:
    return {"min_date": day, "max_date": (date.fromisoformat(day) + timedelta(days=1)).isoformat()}


def _dbt_build(*extra: str) -> list[str]:
    return [dbt_executable(), "build", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--select", *DBT_MODELS, *extra]  # fmt: skip


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

        # Rounds interleave the commands (floor, raw_orders, the imports, the chain, dbt), so a
        # slow spell of the machine hits each figure and its floor alike; each ratio is the
        # median of the rounds' own ratios.
        def vars_args(day: str) -> list[str]:
            window = json.dumps(_window(day))
            return ["--vars", window, "--target-path", str(root / "dbt-target-vars")]

        rounds = []
        for i in range(REPEAT):
            day, chain_day = f"2024-01-0{i + 1}", f"2024-02-0{i + 1}"
            rounds.append(
                Round(
                    floor=_wall(_materialize(floor_target, "one", day), env),
                    raw=_wall(_materialize(defs_target, "raw_orders", day), env),
                    dagster_import=_wall([*python, "import dagster"], env),
                    defs_import=_wall([*python, "import data_platform.definitions"], env),
                    chain=_wall(_materialize(defs_target, CHAIN, chain_day), env),
                    # The same models for the day the chain just loaded, by dbt alone, given
                    # the day as Dagster gives it (in the environment: partial parsing holds)...
                    dbt=_wall(
                        _dbt_build(), {**env, **partition_env(_window(chain_day))}, DBT_PROJECT_DIR
                    ),
                    # ... and as --vars, which make dbt re-parse the project (shown, not a
                    # floor; its own target path, so its parse state never reaches the above).
                    dbt_vars=_wall(_dbt_build(*vars_args(chain_day)), env, DBT_PROJECT_DIR),
                )
            )

    def median(figure: Callable[[Round], float]) -> float:
        return statistics.median(figure(r) for r in rounds)

    floor, raw = median(lambda r: r.floor), median(lambda r: r.raw)
    dbt, chain = median(lambda r: r.dbt), median(lambda r: r.chain)
    dagster_import = median(lambda r: r.dagster_import)
    defs_import = median(lambda r: r.defs_import)
    raw_ratio = median(lambda r: r.raw / r.floor)
    import_ratio = median(lambda r: r.defs_import / r.dagster_import)
    chain_over = median(lambda r: r.chain - r.floor - r.dbt)

    print(f"CLI overhead (medians of {REPEAT}; load average {os.getloadavg()[0]:.1f}):")
    print(f"  floor: one-asset in-process materialize   {floor:6.2f} s")
    print(f"  materialize raw_orders, one day           {raw:6.2f} s  = {raw_ratio:.2f}x floor"
          f"  (goal <= 1.5x; rounds: {_each(rounds, lambda r: r.raw / r.floor, 'x')})")  # fmt: skip
    print(f"  import dagster                            {dagster_import:6.2f} s")
    print(f"  import data_platform.definitions          {defs_import:6.2f} s  = "
          f"{import_ratio:.2f}x (goal <= 1.5x; rounds: "
          f"{_each(rounds, lambda r: r.defs_import / r.dagster_import, 'x')})")  # fmt: skip
    print(f"  standalone dbt build of {len(DBT_MODELS)} models, one day  {dbt:6.2f} s "
          f"(the day in the environment, as Dagster passes it; as --vars, a full re-parse: "
          f"{median(lambda r: r.dbt_vars):.2f} s)")  # fmt: skip
    budget = floor + dbt + 3
    chain_rounds = _each(rounds, lambda r: r.chain - r.floor - r.dbt, "s")
    print(f"  daily chain, one day (raw + staging + fact_orders + checks) {chain:6.2f} s vs "
          f"floor + dbt build + 3 s = {budget:.2f} s: {chain_over:+.2f} s over floor + dbt "
          f"(goal <= +3 s; rounds: {chain_rounds})")  # fmt: skip
