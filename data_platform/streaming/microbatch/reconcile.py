"""Batches a dead run committed: the warehouse has them, the run's history does not.

A micro-batch run that dies after its warehouse commit (kill -9, OOM, lost pod) ends FAILURE or
CANCELED without a materialization, although its rows are loaded and its ranges are in the
ledger. `dead_run_materializations` finds such runs among ledger rows and returns one
AssetMaterialization per asset (orders_events, orders_dlq) naming the run and its ranges, for
the sensor to report (`SensorResult(asset_events=...)`), so the UI's history matches the
warehouse. Each run is reported at most once: it is tagged `RECONCILED_TAG` when its events are
handed out (a tick that fails afterwards loses the report, it never doubles it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import duckdb

from data_platform import warehouse
from data_platform.kafka.ranges import PartitionRange, format_ranges
from data_platform.streaming.microbatch.stream_store import LEDGER, LedgerUnavailable

ASSETS = ("orders_events", "orders_dlq")
RECONCILED_TAG = "data_platform/reconciled"
DEAD = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


class LedgerRow(NamedTuple):
    partition: int
    start: int
    end: int
    run_id: str


def recent_ledger_rows(
    path: warehouse.Warehouse | Path, topic: str, limit: int = 200
) -> list[LedgerRow]:
    """The latest `limit` ledger rows of `topic` with their run ids, read without waiting: a
    missing ledger is empty, a warehouse locked by another process raises LedgerUnavailable
    (as `stream_store.read_ledger_nowait` does), so a sensor tick can skip and try again."""
    if not warehouse.exists(path):
        return []
    try:
        with warehouse.connect(path, read_only=True, lock_timeout_seconds=0.5) as conn:
            rows = conn.execute(
                f"""SELECT "partition", start_offset, end_offset, run_id FROM {LEDGER}
                    WHERE topic = ? ORDER BY committed_at DESC LIMIT ?""",  # noqa: S608
                [topic, limit],
            ).fetchall()
    except duckdb.CatalogException:  # no stream schema yet
        return []
    except (warehouse.WarehouseLockTimeout, warehouse.LakeUnavailable, duckdb.IOException) as exc:
        raise LedgerUnavailable(str(exc)) from exc
    return [LedgerRow(*row) for row in rows]


def dead_run_materializations(
    instance: dg.DagsterInstance, topic: str, ledger: Iterable[LedgerRow]
) -> list[dg.AssetMaterialization]:
    """Materializations for ledger ranges whose run died without reporting any (once per run)."""
    by_run: dict[str, list[PartitionRange]] = defaultdict(list)
    for row in ledger:
        by_run[row.run_id].append(PartitionRange(row.partition, row.start, row.end))
    if not by_run:
        return []
    runs = instance.get_runs(filters=dg.RunsFilter(run_ids=list(by_run), statuses=DEAD))
    events: list[dg.AssetMaterialization] = []
    for run in sorted(runs, key=lambda r: r.run_id):
        if RECONCILED_TAG in run.tags or _materialized(instance, run.run_id):
            continue
        instance.add_run_tags(run.run_id, {RECONCILED_TAG: "reported"})
        events.extend(_events(topic, run, sorted(by_run[run.run_id])))
    return events


def _materialized(instance: dg.DagsterInstance, run_id: str) -> bool:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1
    ).records
    return bool(records)


def _events(
    topic: str, run: dg.DagsterRun, ranges: Sequence[PartitionRange]
) -> list[dg.AssetMaterialization]:
    metadata: dict[str, dg.MetadataValue | str | int] = {
        "topic": topic,
        "ranges": dg.MetadataValue.text(format_ranges(list(ranges))),
        "offsets_committed": sum(r.size for r in ranges),
        "committed_by_run": dg.MetadataValue.dagster_run(run.run_id),
        "run_status": run.status.value,
        "note": dg.MetadataValue.text(
            "Loaded and committed to the warehouse by this run, which then died before "
            "reporting; reported afterwards from the offset ledger."
        ),
    }
    return [
        dg.AssetMaterialization(
            asset_key=asset, description=f"committed by {run.run_id}", metadata=metadata
        )
        for asset in ASSETS
    ]
