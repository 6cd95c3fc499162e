"""Run dbt for an asset step: warehouse path in the environment, row counts once dbt has exited.

DuckDB admits one process per file, so no warehouse connection is held while dbt runs; the row
counts are read after the dbt subprocess has released the file.
"""

import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from data_platform.resources import WarehouseResource
from data_platform.warehouse import FileWarehouse, Warehouse
from data_platform.warehouse import warehouse_env as warehouse_env_vars

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
    values = warehouse_env_vars(resolved)
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


def partition_vars(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The run's partition time window as dbt vars: [min_date, max_date) in YYYY-MM-DD."""
    window = context.partition_time_window
    return {"min_date": f"{window.start:%Y-%m-%d}", "max_date": f"{window.end:%Y-%m-%d}"}


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


def run_dbt(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    args: Sequence[str],
    dbt_vars: Mapping[str, str] | None = None,
) -> Iterator[DbtEvent]:
    """`dbt <args>` for the selected assets; yields its events with row counts attached.

    Events are collected until dbt exits (also when it fails), then re-emitted with metadata;
    a failing dbt invocation is raised after its events, so failed checks are still recorded.
    """
    events: list[DbtEvent] = []
    error: Exception | None = None
    # A throw-away target dir: dagster-dbt's default keeps one copy of the artifacts (megabytes)
    # per invocation under dbt_project/target; the dbt log is in the step's logs anyway.
    with (
        warehouse_env(warehouse.target()),
        tempfile.TemporaryDirectory(prefix="dbt-target-") as target,
    ):
        invocation = dbt.cli(list(args), context=context, target_path=Path(target))
        try:
            events.extend(invocation.stream())
        except Exception as exc:  # re-raised below, after the events are recorded
            error = exc
    manifest = invocation.manifest
    built = [
        (e, _node(manifest, e))
        for e in events
        if isinstance(e, dg.Output | dg.AssetMaterialization)
    ]
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
        elif dbt_vars and isinstance(event, dg.AssetCheckResult):
            yield with_partition_range(event, dbt_vars)
        else:
            yield event
    if error is not None:
        raise error
