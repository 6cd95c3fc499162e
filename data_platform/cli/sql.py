"""`data-platform sql`: one read-only query on the warehouse, printed as a table.

DuckDB lets one process hold the file while it writes, and a plain `duckdb.connect` from another
process fails at once; this waits for a running batch to finish instead, and never writes.
"""

from __future__ import annotations

import argparse

from data_platform import warehouse

WIDTH = 100


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sql", help="run a read-only SQL query on the warehouse")
    parser.add_argument("query", help='e.g. "SHOW ALL TABLES" or "FROM stream.orders_dlq"')
    parser.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait while a run holds the file"
    )
    parser.add_argument("--max-rows", type=int, default=40)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    target = warehouse.warehouse_from_env()
    if not warehouse.exists(target):
        raise SystemExit(f"no warehouse at {target.describe()} yet: run `make demo` first")
    with warehouse.connect(target, read_only=True, lock_timeout_seconds=args.wait) as conn:
        relation = conn.sql(args.query)
        if relation is not None:
            relation.show(max_width=WIDTH, max_rows=args.max_rows)
    return 0
