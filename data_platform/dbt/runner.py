"""Run dbt for an asset step: warehouse and partition window in the environment, events as
dbt reports them, each model's row counts from dbt's own log.

DuckDB admits one process per file, so Dagster cannot read the warehouse while dbt runs: every
model and snapshot logs its counts in a post-hook (`macros/row_counts.sql`), and the step puts
them on the model's materialization as it arrives. dagster-dbt runs dbt and turns its log into
events; it is imported here, in the step, not when the definitions load.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from data_platform.dbt import early_start
from data_platform.dbt.project import (
    MANIFEST_PATH,
    DbtResource,
    installed_dbt_version,
    keep_partial_parse,
    seed_partial_parse,
)
from data_platform.resources import WarehouseResource
from data_platform.warehouse import FileWarehouse, Warehouse
from data_platform.warehouse import warehouse_env as warehouse_env_vars
from data_platform.warehouse.target import S3_KEY_ID_ENV, S3_SECRET_ENV

if TYPE_CHECKING:
    from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation

DbtEvent = (
    dg.Output
    | dg.AssetMaterialization
    | dg.AssetCheckResult
    | dg.AssetCheckEvaluation
    | dg.AssetObservation
)


@contextmanager
def warehouse_env(target: Warehouse | Path) -> Iterator[None]:
    """Point dbt's profile at the resource's warehouse (dbt runs in dbt_project/): an absolute
    file path and target `local`, or the lake's URI, data path and S3 settings and target
    `lake`/`lake_s3` (profiles.yml attaches the lake)."""
    resolved = FileWarehouse(target) if isinstance(target, Path) else target
    with environment(warehouse_env_vars(resolved)):
        yield


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block (dagster-dbt passes os.environ on to dbt)."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def partition_vars(context: dg.AssetExecutionContext) -> dict[str, str] | None:
    """The run's partition time window as dbt vars: [min_date, max_date) in YYYY-MM-DD; None
    for a run without partitions (only unpartitioned models can be selected then)."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    return {"min_date": f"{window.start:%Y-%m-%d}", "max_date": f"{window.end:%Y-%m-%d}"}


def partition_env(dbt_vars: Mapping[str, str] | None) -> dict[str, str]:
    """The window as `partition_range.sql` reads it from the environment; empty values (every
    day) when there is none, so a window of the calling process never leaks into dbt."""
    window = dbt_vars or {}
    return {
        f"DATA_PLATFORM_{name.upper()}": window.get(name, "") for name in ("min_date", "max_date")
    }


ROW_COUNTS = re.compile(r"row counts of (?P<unique_id>\S+): (?P<counts>\{.*\})")
"""The line `log_row_counts` (macros/row_counts.sql) logs for a model or snapshot."""
COUNT_METADATA = {
    "row_count": "dagster/row_count",
    "partition_range_row_count": "partition_range_row_count",
}


def logged_row_counts(raw_event: Mapping[str, Any]) -> tuple[str, dict[str, int]] | None:
    """(unique id, metadata) of a row-counts line in dbt's JSON log; None for any other event."""
    info = raw_event.get("info", {})
    match = (
        ROW_COUNTS.fullmatch(info.get("msg", "")) if info.get("name") == "JinjaLogInfo" else None
    )
    if match is None:
        return None
    counts = json.loads(match["counts"])
    return match["unique_id"], {COUNT_METADATA[name]: int(n) for name, n in counts.items()}


def with_partition_range(
    result: dg.AssetCheckResult, dbt_vars: Mapping[str, str]
) -> dg.AssetCheckResult:
    """A check over a range of days: the UI shows no partition for it (a range step's results
    name none), so its metadata says which days it covered, as the raw assets' checks do."""
    last = date.fromisoformat(dbt_vars["max_date"]) - timedelta(days=1)
    covered = dg.MetadataValue.text(f"{dbt_vars['min_date']}...{last.isoformat()}")
    return dg.AssetCheckResult(
        passed=result.passed,
        asset_key=result.asset_key,
        check_name=result.check_name,
        metadata={**result.metadata, "partition_range": covered},
        severity=result.severity,
        description=result.description,
    )


@functools.cache
def _translator() -> DagsterDbtTranslator:
    from data_platform.dbt.translator import DataPlatformDbtTranslator

    return DataPlatformDbtTranslator()


@functools.lru_cache(maxsize=1)
def _manifest(path: Path, mtime_ns: int) -> Mapping[str, Any]:
    return json.loads(path.read_bytes())


def manifest() -> Mapping[str, Any]:
    """The parsed manifest the definitions were built from (re-read when it changes)."""
    return _manifest(MANIFEST_PATH, MANIFEST_PATH.stat().st_mtime_ns)


def start_dbt(
    context: dg.AssetExecutionContext,
    dbt: DbtResource,
    args: Sequence[str],
    target: Path,
    profile_key: str = "default",
) -> DbtCliInvocation:
    """`dbt <args>` for the step's selection, as dagster-dbt runs it for `@dbt_assets`.

    A step that runs its whole asset starts dbt before importing dagster-dbt (`early_start`).
    Otherwise the definitions come from the spec cache, so their metadata holds no manifest or
    translator objects for `dbt.cli(context=...)` to find: the selection (a subset of the
    assets or checks included) is computed by dagster-dbt's own function and the invocation
    gets the manifest and translator directly. `_step_events` then gives either invocation's
    events the step's outputs."""
    project_dir = Path(dbt.project_dir)
    seed_partial_parse(project_dir, target, profile_key)
    process = early_start.start(context, project_dir, args, target)
    if process is not None:
        try:
            from dagster_dbt import DbtCliInvocation

            return DbtCliInvocation(
                process=process,
                manifest=manifest(),
                dagster_dbt_translator=_translator(),
                project_dir=project_dir,
                target_path=target,
                raise_on_error=True,
                cli_version=installed_dbt_version(),
            )
        except BaseException:  # interrupted before dagster-dbt owns the process: stop dbt
            process.kill()
            process.wait()
            raise
    from dagster_dbt.asset_utils import get_subset_selection_for_context

    indirect_env = early_start.INDIRECT_SELECTION_ENV
    selection, indirect = get_subset_selection_for_context(
        context=context,
        manifest=manifest(),
        select=context.op.tags.get("dagster_dbt/select"),
        exclude=context.op.tags.get("dagster_dbt/exclude"),
        selector=context.op.tags.get("dagster_dbt/selector"),
        dagster_dbt_translator=_translator(),
        current_dbt_indirect_selection_env=os.environ.get(indirect_env),
    )
    with environment({indirect_env: early_start.indirect_selection(indirect)}):
        return dbt.cli_resource().cli(
            [*args, *selection],
            manifest=manifest(),
            dagster_dbt_translator=_translator(),
            target_path=target,
        )


def _step_events(context: dg.AssetExecutionContext, events: Iterator[Any]) -> Iterator[DbtEvent]:
    """dagster-dbt's events outside an `@dbt_assets` context (materializations and check
    evaluations) as the step's outputs and check results; a test dbt ran that is not one of
    the step's selected checks stays an observation, as dagster-dbt makes it."""
    selected = context.selected_asset_keys
    checks = context.selected_asset_check_keys
    for event in events:
        if isinstance(event, dg.AssetMaterialization) and event.asset_key in selected:
            yield dg.Output(
                None, output_name=event.asset_key.to_python_identifier(), metadata=event.metadata
            )
        elif isinstance(event, dg.AssetCheckEvaluation):
            if event.asset_check_key in checks:
                yield dg.AssetCheckResult(
                    passed=event.passed,
                    asset_key=event.asset_key,
                    check_name=event.check_name,
                    metadata=event.metadata,
                    severity=event.severity,
                )
            else:
                yield dg.AssetObservation(asset_key=event.asset_key, metadata=event.metadata)
        else:
            yield event


def _with_counts(
    context: dg.AssetExecutionContext, invocation: DbtCliInvocation
) -> Iterator[DbtEvent]:
    """dagster-dbt's `stream()`, step by step, with each model's logged row counts put on its
    materialization (dbt logs them just before it reports the model)."""
    counts: dict[str, dict[str, int]] = {}
    for message in invocation.stream_raw_events():
        logged = logged_row_counts(message.raw_event)
        if logged is not None:
            counts[logged[0]] = logged[1]
            continue
        events = message.to_default_asset_events(
            manifest=invocation.manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=invocation.context,
            target_path=invocation.target_path,
            project=invocation.project,
        )
        for event in _step_events(context, iter(events)):
            unique_id = event.metadata.get("unique_id")
            extra = counts.get(str(getattr(unique_id, "value", unique_id)))
            if extra and isinstance(event, dg.Output | dg.AssetMaterialization):
                yield event.with_metadata({**event.metadata, **extra})
            else:
                yield event


def _profile_key(profile: Mapping[str, str]) -> str:
    """Names the kept dbt parse of one warehouse: a digest of where the profile points,
    credentials left out."""
    where = sorted((k, v) for k, v in profile.items() if k not in (S3_KEY_ID_ENV, S3_SECRET_ENV))
    return hashlib.sha256(json.dumps(where).encode()).hexdigest()[:16]


def _stop(invocation: DbtCliInvocation) -> None:
    """A step that stops reading dbt's events (interrupted between two of them) stops dbt too,
    as dagster-dbt does when the interrupt comes while it reads: SIGINT, then a kill."""
    process = invocation.process
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=invocation.termination_timeout_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_dbt(
    context: dg.AssetExecutionContext,
    dbt: DbtResource,
    warehouse: WarehouseResource,
    args: Sequence[str],
    dbt_vars: Mapping[str, str] | None = None,
) -> Iterator[DbtEvent]:
    """`dbt <args>` for the selected assets; yields its events as dbt reports them, models
    with their row counts.

    `dbt_vars` (a partition window) go to dbt as environment variables (`partition_range.sql`
    reads them; new `--vars` would make dbt re-parse the whole project each run) and into the
    metadata of the partitioned assets' checks. A failing dbt invocation is raised after its
    events, so failed checks are still recorded.
    """
    partitioned = {spec.key for spec in context.assets_def.specs if spec.partitions_def}
    # A throw-away target dir: dagster-dbt's default keeps one copy of the artifacts (megabytes)
    # per invocation under dbt_project/target; the dbt log is in the step's logs anyway.
    profile = warehouse_env_vars(warehouse.target())
    profile_key = _profile_key(profile)
    with tempfile.TemporaryDirectory(prefix="dbt-target-") as target:
        with environment(profile), environment(partition_env(dbt_vars)):
            invocation = start_dbt(context, dbt, args, Path(target), profile_key)
        try:
            for event in _with_counts(context, invocation):
                if (
                    dbt_vars
                    and isinstance(event, dg.AssetCheckResult)
                    and event.asset_key in partitioned
                ):
                    yield with_partition_range(event, dbt_vars)
                else:
                    yield event
        finally:
            _stop(invocation)
            if invocation.process.returncode in (0, 1):  # dbt ran (1: a model or test failed)
                keep_partial_parse(Path(dbt.project_dir), Path(target), profile_key)
