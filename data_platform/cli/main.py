"""The `data-platform` console command. Each subcommand lives in its own module and registers
itself here through a `register(subparsers)` function."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from data_platform.cli import broker, checks_report, demo, dlq, produce_orders, serve_api, sql

# Modules contributing subcommands, in the order `--help` lists them.
COMMAND_MODULES = [demo, serve_api, checks_report, broker, produce_orders, dlq, sql]


def default_dagster_home() -> None:
    """Point DAGSTER_HOME at `.dagster_home/` (holding a copy of dagster.yaml) when unset."""
    if os.environ.get("DAGSTER_HOME"):
        return
    home = Path(".dagster_home").resolve()
    home.mkdir(exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and Path("dagster.yaml").exists():
        config.write_text(Path("dagster.yaml").read_text())
    os.environ["DAGSTER_HOME"] = str(home)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="data-platform", description="Operate the order-analytics data platform."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # `backfill_policy` on assets is marked beta in dagster 1.13; say it once in docs, not per run.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    args = build_parser().parse_args(argv)
    default_dagster_home()
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
