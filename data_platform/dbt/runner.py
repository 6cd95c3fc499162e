"""Run dbt for an asset step: warehouse path in the environment, row counts once dbt has exited.

DuckDB admits one process per file, so no warehouse connection is held while dbt runs; the row
counts are read after the dbt subprocess has released the file. dagster-dbt runs dbt and turns
its log into events; it is imported here, in the step, not when the definitions load.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import duckdb

from data_platform.dbt import early_start
from data_platform.dbt.project import (
    MANIFEST_PATH,
    DbtResource,
    installed_dbt_version,
    seed_partial_parse,
)
from data_platform.resources import WarehouseResource
from data_platform.warehouse import FileWarehouse, Warehouse
from data_platform.warehouse import warehouse_env as warehouse_env_vars

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


def _node(manifest: Mapping[str, Any], event: DbtEvent) -> Mapping[str, Any] | None:
    unique_id = event.metadata.get("unique_id")
    text = getattr(unique_id, "value", unique_id)
    return manifest.get("nodes", {}).get(text) if isinstance(text, str) else None


def _relation(node: Mapping[str, Any]) -> str:
    """`"schema"."alias"`, without the database: DuckDB names it after the file, which differs
    between the manifest's parse and the run (a test's or benchmark's temp warehouse)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in (node["schema"], node["alias"]))


def _count_rows(
    conn: duckdb.DuckDBPyConnection, node: Mapping[str, Any], dbt_vars: Mapping[str, str] | None
) -> dict[str, Any]:
    """Total rows of the node's relation and, for a ranged incremental run, rows in the range."""
    relation = _relation(node)
    total = conn.execute(f"SELECT COUNT(*) FROM {relation}").fetchone()  # noqa: S608 - quoted manifest identifiers
    counts: dict[str, Any] = {"dagster/row_count": total[0] if total else 0}
    range_column = node.get("config", {}).get("range_column")
    if range_column and dbt_vars:
        in_range = conn.execute(
            f'SELECT COUNT(*) FROM {relation} WHERE "{range_column}" >= ? AND "{range_column}" < ?',  # noqa: S608 - quoted manifest identifiers
            [date.fromisoformat(dbt_vars["min_date"]), date.fromisoformat(dbt_vars["max_date"])],
        ).fetchone()
        counts["partition_range_row_count"] = in_range[0] if in_range else 0
    return counts


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
    context: dg.AssetExecutionContext, dbt: DbtResource, args: Sequence[str], target: Path
) -> DbtCliInvocation:
    """`dbt <args>` for the step's selection, as dagster-dbt runs it for `@dbt_assets`.

    A step that runs its whole asset starts dbt before importing dagster-dbt (`early_start`).
    Otherwise the definitions come from the spec cache, so their metadata holds no manifest or
    translator objects for `dbt.cli(context=...)` to find: the selection (a subset of the
    assets or checks included) is computed by dagster-dbt's own function and the invocation
    gets the manifest and translator directly. `_step_events` then gives either invocation's
    events the step's outputs."""
    project_dir = Path(dbt.project_dir)
    seed_partial_parse(project_dir, target)
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


def run_dbt(
    context: dg.AssetExecutionContext,
    dbt: DbtResource,
    warehouse: WarehouseResource,
    args: Sequence[str],
    dbt_vars: Mapping[str, str] | None = None,
) -> Iterator[DbtEvent]:
    """`dbt <args>` for the selected assets; yields its events with row counts attached.

    `dbt_vars` (a partition window) go to dbt as environment variables (`partition_range.sql`
    reads them; new `--vars` would make dbt re-parse the whole project each run) and into the
    metadata of the counts and of the partitioned assets' checks. Events are collected until
    dbt exits (also when it fails), then re-emitted with metadata; a failing dbt invocation is
    raised after its events, so failed checks are still recorded.
    """
    events: list[DbtEvent] = []
    error: Exception | None = None
    # A throw-away target dir: dagster-dbt's default keeps one copy of the artifacts (megabytes)
    # per invocation under dbt_project/target; the dbt log is in the step's logs anyway.
    with (
        warehouse_env(warehouse.target()),
        environment(partition_env(dbt_vars)),
        tempfile.TemporaryDirectory(prefix="dbt-target-") as target,
    ):
        invocation = start_dbt(context, dbt, args, Path(target))
        try:
            events.extend(_step_events(context, iter(invocation.stream())))
        except Exception as exc:  # re-raised below, after the events are recorded
            error = exc
    manifest_json = invocation.manifest
    built = [
        (e, _node(manifest_json, e))
        for e in events
        if isinstance(e, dg.Output | dg.AssetMaterialization)
    ]
    partitioned = {spec.key for spec in context.assets_def.specs if spec.partitions_def}
    counts: dict[int, dict[str, Any]] = {}
    if built:
        with warehouse.connect(read_only=True) as conn:
            for built_event, node in built:
                if node is not None and node.get("resource_type") in ("model", "snapshot"):
                    counts[id(built_event)] = _count_rows(conn, node, dbt_vars)
    for event in events:
        extra = counts.get(id(event))
        if extra and isinstance(event, dg.Output | dg.AssetMaterialization):
            yield event.with_metadata({**event.metadata, **extra})
        elif dbt_vars and isinstance(event, dg.AssetCheckResult) and event.asset_key in partitioned:
            yield with_partition_range(event, dbt_vars)
        else:
            yield event
    if error is not None:
        raise error
