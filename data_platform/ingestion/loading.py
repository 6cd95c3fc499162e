"""Load a run's partition range of one API collection, one atomic transaction per day."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # frames come from `frames`, which imports pandas when a step needs it
    import pandas as pd

from data_platform import warehouse
from data_platform.ingestion.dates import days_between, parse_day
from data_platform.ingestion.frames import pages_to_frame
from data_platform.resources import OrdersApiResource, WarehouseResource

# Fetched days are written in groups of about this many rows: one connection per group keeps
# the warehouse lock short without paying a connect per day on a year-long backfill.
WRITE_GROUP_ROWS = 100_000


@dataclass
class LoadSummary:
    first_day: date | None
    last_day: date | None
    rows_by_day: dict[str, int] = field(default_factory=dict)
    preview: pd.DataFrame | None = None
    seconds: float = 0.0
    # Lake commit conflicts (another writer committed first) retried as whole transactions.
    conflicts: warehouse.ConflictRetries = field(default_factory=warehouse.ConflictRetries)

    @property
    def rows(self) -> int:
        return sum(self.rows_by_day.values())


def run_partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The run's first and last day, validated before anything touches the warehouse."""
    key_range = context.partition_key_range
    first, last = parse_day(key_range.start), parse_day(key_range.end)
    if last < first:
        raise ValueError(f"partition range {key_range.start}...{key_range.end} is reversed")
    return first, last


def load_days(
    context: dg.AssetExecutionContext,
    entity: str,
    api: OrdersApiResource,
    store: WarehouseResource,
) -> LoadSummary:
    """Fetch each day of the run's range and replace it in the warehouse, one transaction a day."""
    first, last = run_partition_days(context)
    spec = warehouse.RAW_TABLES[entity]
    asset_key = context.asset_key.to_user_string()
    client = api.client()
    summary = LoadSummary(first, last)
    started = time.monotonic()
    pending: list[tuple[date, pd.DataFrame]] = []

    def flush() -> None:
        with store.connect() as conn:
            warehouse.ensure_raw_schema(conn, summary.conflicts)
            for day, frame in pending:
                rows = warehouse.replace_partition(
                    conn, spec, frame, context.run_id, asset_key, day, summary.conflicts
                )
                summary.rows_by_day[day.isoformat()] = rows
        pending.clear()

    for day in days_between(first, last):
        try:
            frame = pages_to_frame(spec, client.iter_pages(entity, day=day))
        except Exception as exc:
            flush()
            with store.connect() as conn:
                warehouse.ensure_raw_schema(conn)
                warehouse.audit_start(conn, context.run_id, asset_key, day.isoformat())
                warehouse.audit_fail(conn, context.run_id, asset_key, day.isoformat(), exc)
            raise
        pending.append((day, frame))
        summary.preview = frame.head(5)
        if sum(len(f) for _, f in pending) >= WRITE_GROUP_ROWS:
            flush()
    flush()
    summary.seconds = time.monotonic() - started
    context.log.info(
        f"{spec.qualified}: {summary.rows} rows over {len(summary.rows_by_day)} day(s) "
        f"in {summary.seconds:.2f}s"
    )
    return summary


def load_unpartitioned(
    context: dg.AssetExecutionContext,
    entity: str,
    api: OrdersApiResource,
    store: WarehouseResource,
    as_of: date | None,
) -> LoadSummary:
    """Replace a whole unpartitioned table with the API's current rows in one transaction."""
    spec = warehouse.RAW_TABLES[entity]
    asset_key = context.asset_key.to_user_string()
    started = time.monotonic()
    try:
        frame = pages_to_frame(spec, api.client().iter_pages(entity, as_of=as_of))
    except Exception as exc:
        with store.connect() as conn:
            warehouse.ensure_raw_schema(conn)
            warehouse.audit_start(conn, context.run_id, asset_key, warehouse.UNPARTITIONED)
            warehouse.audit_fail(conn, context.run_id, asset_key, warehouse.UNPARTITIONED, exc)
        raise
    conflicts = warehouse.ConflictRetries()
    with store.connect() as conn:
        warehouse.ensure_raw_schema(conn, conflicts)
        rows = warehouse.replace_partition(
            conn, spec, frame, context.run_id, asset_key, None, conflicts
        )
    summary = LoadSummary(None, None, {warehouse.UNPARTITIONED: rows}, frame.head(5))
    summary.conflicts = conflicts
    summary.seconds = time.monotonic() - started
    return summary


def materialization_metadata(summary: LoadSummary) -> dict[str, dg.MetadataValue]:
    """Row count, partition range, duration and a small preview for the UI."""
    metadata: dict[str, dg.MetadataValue] = {
        "dagster/row_count": dg.MetadataValue.int(summary.rows),
        "duration_seconds": dg.MetadataValue.float(round(summary.seconds, 3)),
        "rows_per_second": dg.MetadataValue.float(
            round(summary.rows / summary.seconds, 1) if summary.seconds else 0.0
        ),
        "conflict_retries": dg.MetadataValue.int(summary.conflicts.count),
    }
    if summary.first_day is not None and summary.last_day is not None:
        metadata["partition_range"] = dg.MetadataValue.text(
            f"{summary.first_day.isoformat()}...{summary.last_day.isoformat()}"
        )
        metadata["days_loaded"] = dg.MetadataValue.int(len(summary.rows_by_day))
        metadata["rows_by_day"] = dg.MetadataValue.json(summary.rows_by_day)
    if summary.preview is not None and not summary.preview.empty:
        metadata["preview"] = dg.MetadataValue.md(_markdown_table(summary.preview))
    return metadata


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join("" if v is None else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])
