"""Run the window query once (`availableNow`) from its checkpoint and summarise what it did.

Every micro-batch goes through `foreachBatch` into `window_store.apply_batch` on a short DuckDB
connection of its own. Late records are measured exactly per batch: valid input events minus
the events that reached a window (the progress figure `numRowsDroppedByWatermark` counts rows
after partial aggregation, so it undercounts). Where the time went is summed from Spark's own
progress (`durationMs` per trigger) and, for the sink, timed around `foreachBatch`'s work.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
from pyspark.sql import DataFrame

from data_platform.faults import fault_point
from data_platform.streaming.windows import query as window_query
from data_platform.streaming.windows import store as window_store

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


@dataclass
class RunSummary:
    query_id: str
    batches: int = 0
    batches_replayed: int = 0
    input_rows: int = 0
    invalid_records: int = 0
    valid_events: int = 0
    events_aggregated: int = 0
    late_records: int = 0
    rows_dropped_by_watermark: int = 0
    windows_updated: int = 0
    watermark: str | None = None
    per_batch: list[dict[str, Any]] = field(default_factory=list)
    # Seconds per phase over the run: Spark's trigger phases (`latestOffset`, `queryPlanning`,
    # `addBatch`, `walCommit`, ...), and within `addBatch` the sink's `sink_to_pandas` (which
    # runs the batch's plan: source read, parse, windows, state) and `sink_duckdb` (the upsert).
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def late_share(self) -> float:
        return self.late_records / self.valid_events if self.valid_events else 0.0


def checkpoint_watermark(checkpoint: str) -> str | None:
    """The watermark journaled in a local checkpoint's latest offset log (None if unknown)."""
    offsets = Path(checkpoint) / "offsets"
    logs = sorted((p for p in offsets.glob("[0-9]*") if p.is_file()), key=lambda p: int(p.name))
    if not logs:
        return None
    lines = logs[-1].read_text().splitlines()
    millis = json.loads(lines[1]).get("batchWatermarkMs") if len(lines) > 1 else None
    if millis is None:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).isoformat()


def run_availablenow(
    records: DataFrame, connect: Connect, checkpoint: str, query_name: str
) -> RunSummary:
    """Process everything available now through the windows and into the warehouse."""
    with connect() as conn:
        window_store.ensure_schema(conn)
    started = threading.Event()
    holder: dict[str, str] = {}
    outcomes: dict[int, window_store.WindowBatchOutcome] = {}
    sink: dict[str, float] = {"sink_to_pandas": 0.0, "sink_duckdb": 0.0}

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        started.wait()
        begun = time.perf_counter()
        frame = batch.toPandas()
        converted = time.perf_counter()
        with connect() as conn:
            outcomes[batch_id] = window_store.apply_batch(conn, holder["id"], batch_id, frame)
        sink["sink_to_pandas"] += converted - begun
        sink["sink_duckdb"] += time.perf_counter() - converted
        fault_point("windows.after_commit")  # crash before Spark commits the batch

    streaming = (
        window_query.window_aggregates(records)
        .writeStream.queryName(query_name)
        .outputMode("update")
        .option("checkpointLocation", checkpoint)
        .foreachBatch(write_batch)
        .trigger(availableNow=True)
        .start()
    )
    holder["id"] = streaming.id
    started.set()
    try:
        streaming.awaitTermination()
    finally:
        if streaming.isActive:
            streaming.stop()
    progress = [json.loads(p.json) for p in streaming.recentProgress]
    summary = summarise(streaming.id, progress, outcomes, checkpoint)
    summary.seconds.update({name: round(value, 3) for name, value in sink.items()})
    return summary


def summarise(
    query_id: str,
    progress: list[dict[str, Any]],
    outcomes: dict[int, window_store.WindowBatchOutcome],
    checkpoint: str,
) -> RunSummary:
    summary = RunSummary(query_id=query_id)
    millis_by_phase: dict[str, int] = {}
    for p in progress:
        for phase, millis in p.get("durationMs", {}).items():
            millis_by_phase[phase] = millis_by_phase.get(phase, 0) + int(millis)
        batch_id = int(p["batchId"])
        inputs = window_query.observed(p)
        outcome = outcomes.get(batch_id)
        if outcome is None and not int(p.get("numInputRows", 0)):
            continue  # an idle trigger's progress: no batch ran
        aggregated = outcome.events_aggregated if outcome else 0
        dropped = sum(int(op.get("numRowsDroppedByWatermark", 0)) for op in p["stateOperators"])
        late = max(inputs["valid"] - aggregated, 0)
        summary.batches += 1
        summary.batches_replayed += int(outcome is not None and not outcome.applied)
        summary.input_rows += int(p.get("numInputRows", 0))
        summary.invalid_records += inputs["records"] - inputs["valid"]
        summary.valid_events += inputs["valid"]
        summary.events_aggregated += aggregated
        summary.late_records += late
        summary.rows_dropped_by_watermark += dropped
        summary.windows_updated += outcome.windows_upserted if outcome and outcome.applied else 0
        summary.watermark = p.get("eventTime", {}).get("watermark", summary.watermark)
        summary.per_batch.append(
            {"batch_id": batch_id, "input_rows": int(p.get("numInputRows", 0)), **inputs,
             "aggregated": aggregated, "late": late, "dropped_by_watermark": dropped}
        )  # fmt: skip
    if summary.watermark is None:
        summary.watermark = checkpoint_watermark(checkpoint)
    summary.seconds = {phase: millis / 1000 for phase, millis in millis_by_phase.items()}
    return summary
