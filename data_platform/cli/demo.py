"""`data-platform demo`: run the platform end to end on embedded defaults and summarise it.

Every step goes through Dagster (`dagster asset materialize`, the same CLI users run), so the
runs, materializations and check results land in the local instance like any other run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import date, timedelta

from data_platform import warehouse
from data_platform.cli import checks_report, dbt_demo, stream_demo, windows_demo
from data_platform.paths import warehouse_path

DEFAULT_START = "2024-03-01"
DEFAULT_DAYS = 7


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="materialize a week end to end and summarise")
    parser.add_argument("--start", default=DEFAULT_START, help="first day (YYYY-MM-DD)")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.set_defaults(handler=run)


def materialize_command(selection: str, *extra: str) -> list[str]:
    """`dagster asset materialize` of this code location, run with this interpreter."""
    return [sys.executable, "-m", "dagster", "asset", "materialize",
            "-m", "data_platform.definitions", "--select", selection, *extra]  # fmt: skip


def materialize(selection: str, *extra: str) -> None:
    """Run `dagster asset materialize` for a selection, failing loudly if the run fails."""
    command = materialize_command(selection, *extra)
    print(f"$ dagster asset materialize --select {selection} {' '.join(extra)}", flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"materialization of {selection} failed (exit {result.returncode})")


def print_table(title: str, header: tuple[str, ...], rows: list[tuple]) -> None:
    print(f"\n{title}")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        print("  " + "  ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=False)))


def ingest(first: date, last: date) -> None:
    materialize(
        "raw_orders,raw_order_items,raw_customers",
        "--partition-range",
        f"{first.isoformat()}...{last.isoformat()}",
    )
    materialize("raw_users")


def summarise_raw(first: date, last: date) -> None:
    with warehouse.connect(warehouse_path(), read_only=True) as conn:
        rows = []
        for spec in warehouse.RAW_TABLES.values():
            query = f"SELECT COUNT(*) FROM {spec.qualified}"  # noqa: S608 - constant identifier
            rows.append((spec.qualified, warehouse.one_row(conn.execute(query))[0]))
        print_table(f"Raw tables after {first}...{last}", ("table", "rows"), rows)


def run(args: argparse.Namespace) -> int:
    first = date.fromisoformat(args.start)
    last = first + timedelta(days=args.days - 1)
    print(f"Warehouse: {warehouse_path()}")
    ingest(first, last)
    summarise_raw(first, last)
    dbt_demo.run_dbt_demo(first, last, materialize, print_table)
    stream_demo.run_stream_demo(print_table)
    windows_demo.run_windows_demo(materialize, print_table)
    return checks_report.demo_step()  # keep last: the demo ends with the check report
