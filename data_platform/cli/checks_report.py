"""`data-platform checks`: the latest result of every asset check, read from the Dagster instance.

Exits 1 when any latest ERROR-severity check failed (or its run died before evaluating it), so
the command can gate a CI job or a deploy. Check keys come from the code location's definitions,
so a check that never ran is listed too rather than silently missing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, TextIO

import dagster as dg

from data_platform.cli import check_report
from data_platform.cli.check_report import CheckRow

DEFAULT_MODULE = "data_platform.definitions"
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "checks", help="report the latest asset-check results; exit 1 on failed ERROR checks"
    )
    parser.add_argument("--format", choices=check_report.FORMATS, default="table")
    parser.add_argument("-m", "--module", default=DEFAULT_MODULE,
                        help="Python module whose `defs` declares the asset checks")  # fmt: skip
    parser.set_defaults(handler=run)


def declared_check_keys(module: str) -> list[dg.AssetCheckKey]:
    defs = importlib.import_module(module).defs
    if not isinstance(defs, dg.Definitions):
        raise SystemExit(f"{module}.defs is a {type(defs).__name__}, expected dagster Definitions")
    keys = defs.resolve_asset_graph().asset_check_keys
    return sorted(keys, key=lambda k: (k.asset_key.to_user_string(), k.name))


def _plain(value: Any) -> Any:
    """A metadata value as JSON-able data (ints stay ints, so failing-row counts stay numbers)."""
    raw = getattr(value, "value", value)
    return raw if isinstance(raw, str | int | float | bool | list | dict | None) else str(raw)


def _run_partition(run: dg.DagsterRun | None) -> str | None:
    if run is None:
        return None
    if PARTITION_TAG in run.tags:
        return run.tags[PARTITION_TAG]
    if RANGE_START_TAG in run.tags:
        return f"{run.tags[RANGE_START_TAG]}...{run.tags.get(RANGE_END_TAG, '')}"
    return None


def _unevaluated_result(run: dg.DagsterRun | None) -> str:
    """A planned check whose evaluation never arrived: still running, skipped, or crashed."""
    if run is None or not run.is_finished:
        return check_report.IN_PROGRESS
    if run.status == dg.DagsterRunStatus.SUCCESS:
        return check_report.SKIPPED
    return check_report.EXECUTION_FAILED


def _row(instance: dg.DagsterInstance, key: dg.AssetCheckKey, record: Any) -> CheckRow:
    asset, check = key.asset_key.to_user_string(), key.name
    if record is None:
        return CheckRow(asset=asset, check=check, result=check_report.NEVER_RUN)
    run = instance.get_run_by_id(record.run_id)
    event = record.event
    dagster_event = event.dagster_event if event is not None else None
    if dagster_event is None or (
        dagster_event.event_type != dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ):
        return CheckRow(asset=asset, check=check, result=_unevaluated_result(run),
                        partition=record.partition or _run_partition(run),
                        run_id=record.run_id)  # fmt: skip
    evaluation = dagster_event.asset_check_evaluation_data
    return CheckRow(
        asset=asset,
        check=check,
        result=check_report.PASSED if evaluation.passed else check_report.FAILED,
        severity=evaluation.severity.value,
        partition=evaluation.partition or record.partition or _run_partition(run),
        evaluated_at=datetime.fromtimestamp(event.timestamp, tz=timezone.utc),
        run_id=record.run_id,
        metadata={name: _plain(value) for name, value in evaluation.metadata.items()},
    )


def latest_check_rows(
    instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey]
) -> list[CheckRow]:
    """One row per check key: its latest evaluation across partitions, or NEVER_RUN."""
    keys = list(check_keys)
    # No @public instance method covers check evaluations in dagster 1.13; the event-log
    # storage's is the stable one the webserver itself uses.
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    return [_row(instance, key, records.get(key)) for key in keys]


def report(instance: dg.DagsterInstance, module: str, fmt: str) -> tuple[str, int]:
    """The rendered report and the exit code that gates on failed ERROR checks."""
    rows = latest_check_rows(instance, declared_check_keys(module))
    return check_report.render(rows, fmt), 1 if check_report.failing_error_checks(rows) else 0


def run(args: argparse.Namespace) -> int:
    with dg.DagsterInstance.get() as instance:
        text, code = report(instance, args.module, args.format)
    sys.stdout.write(text)
    sys.stdout.flush()
    return code


def demo_step(err: TextIO | None = None) -> int:
    """The demo's check report, in the compact table that fits 100 columns. Failed WARN checks
    are shown, not fatal; a failed ERROR check makes the demo exit 1 after the report, exactly
    as the CI gate would. `err`: where to say so (the demo sends stderr to its log file)."""
    print("Asset checks (latest evaluation of each; `data-platform checks` prints the same)")
    with dg.DagsterInstance.get() as instance:
        text, code = report(instance, DEFAULT_MODULE, "compact")
    print(text, end="", flush=True)
    if code:
        (err or sys.stderr).write(
            "demo: ERROR-severity asset checks failed (marked FAILED above); the data is not "
            "fit to use, so the demo exits 1.\n"
        )
    return code
