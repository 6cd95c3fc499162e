"""`data-platform demo`: run the platform end to end on embedded defaults and summarise it.

Every step goes through Dagster (`dagster asset materialize`, the same CLI users run), so the
runs, materializations and check results land in the local instance like any other run. The
terminal shows numbered steps, tables that fit 100 columns and the next steps; Dagster's own
output (the runs' logs, warnings) goes to `demo.log` beside the warehouse.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TextIO

from data_platform import warehouse
from data_platform.cli import checks_report, dbt_demo, stream_demo, windows_demo
from data_platform.cli.demo_console import Steps, print_table, say, stderr_to
from data_platform.paths import state_dir, warehouse_path

DEFAULT_DAYS = 7
DEFAULT_UI_PORT = "3000"
# ingestion (2), dbt (staging, mart, then users + snapshot per as-of day), Spark (1)
MATERIALIZATIONS = 2 + 2 + len(dbt_demo.USERS_AS_OF_DAYS_BEFORE_LAST) + 1
STEPS = MATERIALIZATIONS + 2  # + the Kafka micro-batches + the check report
LOG_TAIL_CHARS = 4000
EXAMPLE_QUERY = "SELECT error_code, COUNT(*) FROM stream.orders_dlq GROUP BY 1"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="materialize a week end to end and summarise")
    parser.add_argument(
        "--start", default=None, help="first day (YYYY-MM-DD); default: the days up to yesterday"
    )
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.set_defaults(handler=run)


def materialize_command(selection: str, *extra: str) -> list[str]:
    """`dagster asset materialize` of this code location, run with this interpreter."""
    return [sys.executable, "-m", "dagster", "asset", "materialize",
            "-m", "data_platform.definitions", "--select", selection, *extra]  # fmt: skip


def step_label(selection: str, *extra: str) -> str:
    """What a person needs to know about a materialize call: the assets, days and op config."""
    parts = [selection]
    if "--partition-range" in extra:
        parts.append(extra[extra.index("--partition-range") + 1])
    if "--config-json" in extra:
        ops = json.loads(extra[extra.index("--config-json") + 1]).get("ops", {})
        parts += [f"{k}={v}" for op in ops.values() for k, v in op.get("config", {}).items()]
    return " ".join(parts)


def demo_log_path() -> Path:
    return state_dir() / "demo.log"


def shown(path: Path) -> str:
    """A path relative to the working directory when it is under it (shorter to read and type)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class Demo:
    """The demo's steps: runs `dagster asset materialize` with its output in the log file."""

    def __init__(self, steps: Steps, log: Path, err: TextIO) -> None:
        self.steps, self.log, self.err = steps, log, err

    def materialize(self, selection: str, *extra: str) -> None:
        """Run `dagster asset materialize` for a selection, failing loudly if the run fails."""
        began = self.steps.begin(step_label(selection, *extra), inline=True)
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("a") as out:
            out.write(f"\n$ dagster asset materialize --select {selection} {' '.join(extra)}\n")
            out.flush()
            result = subprocess.run(materialize_command(selection, *extra), stdout=out,
                                    stderr=subprocess.STDOUT, check=False)  # fmt: skip
        if result.returncode != 0:
            print(" FAILED", flush=True)
            with self.log.open() as log:
                log.seek(offset)
                self.err.write(log.read()[-LOG_TAIL_CHARS:])
            self.err.write(f"\nfull log: {self.log}\n")
            raise SystemExit(f"materialization of {selection} failed (exit {result.returncode})")
        self.steps.finish(began)


def summarise_raw(first: date, last: date) -> None:
    with warehouse.connect(warehouse.warehouse_from_env(), read_only=True) as conn:
        rows = []
        for spec in warehouse.RAW_TABLES.values():
            query = f"SELECT COUNT(*) FROM {spec.qualified}"  # noqa: S608 - constant identifier
            rows.append((spec.qualified, warehouse.one_row(conn.execute(query))[0]))
        print_table(f"Raw tables after {first}...{last}", ("table", "rows"), rows)


def demo_days(start: str | None, days: int) -> tuple[date, date]:
    """The first and last day to load: from `start`, else the newest complete days (up to
    yesterday, UTC), the partitions the UI shows first (its launch dialog opens on the last 90
    days; older ones need "Show all partitions")."""
    first = date.fromisoformat(start) if start else datetime.now(UTC).date() - timedelta(days)
    return first, first + timedelta(days=days - 1)


def next_steps(log: Path, first: date, last: date) -> None:
    """How to go on from here: the UI, the warehouse file and a query to try."""
    port = os.environ.get("DAGSTER_PORT") or DEFAULT_UI_PORT
    command = shown(Path(sys.executable).with_name("data-platform"))
    say()
    say("Next steps")
    for line in (
        f"1. Open the UI: `make dev`, then http://127.0.0.1:{port}",
        "   (another port: DAGSTER_PORT=3001 make dev; assets are under Lineage and Catalog)",
        f"   The demo's days, {first}...{last}, are among the last 90 the UI lists first",
        f"2. The warehouse is one DuckDB file: {shown(warehouse_path())}",
        "3. Query it (read-only; waits while a run writes, as DuckDB admits one writer):",
        f"   {command} sql '{EXAMPLE_QUERY}'",
        "   or in Python: duckdb.connect('<that file>', read_only=True).sql('SHOW ALL TABLES')",
        f"Dagster's logs of these runs: {shown(log)}",
    ):
        say(line, "  ")


def run(args: argparse.Namespace) -> int:
    first, last = demo_days(args.start, args.days)
    log = demo_log_path()
    steps = Steps(STEPS)
    say(f"Warehouse: {shown(warehouse_path())}")
    say(f"Dagster's logs: {shown(log)}")
    say("Each step named by assets is one `dagster asset materialize` run:")
    with stderr_to(log) as err:
        demo = Demo(steps, log, err)
        demo.materialize(
            "raw_orders,raw_order_items,raw_customers",
            "--partition-range",
            f"{first.isoformat()}...{last.isoformat()}",
        )
        demo.materialize("raw_users")
        summarise_raw(first, last)
        dbt_demo.run_dbt_demo(first, last, demo.materialize, print_table)
        steps.begin("Kafka micro-batches: sensor ticks and their runs, in this process")
        stream_demo.run_stream_demo(print_table)
        before = steps.done
        windows_demo.run_windows_demo(demo.materialize, print_table)
        steps.done = max(steps.done, before + 1)  # a skipped Spark step still counts
        say()
        steps.begin("Asset checks")
        code = checks_report.demo_step(err)
    next_steps(log, first, last)
    return code  # the report is the last table; only the next steps follow it
