"""Freshness: a steady 200 records/s for 120 s into a real `dagster dev` (daemon, Kafka sensor,
queued runs, the repo's dagster.yaml), nothing killed.

Reported: every acknowledged record loaded exactly once, and the produce-to-warehouse latency
(the commit of the ledger range holding a record minus its Kafka timestamp): median, p95, max;
the runs it took. Goal: median <= 10 s, p95 <= 20 s. BENCH_FRESHNESS_RATE / _SECONDS scale it.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb

from benchmarks.bench_soak import PacedProducer, streaming_stack

RATE = int(os.environ.get("BENCH_FRESHNESS_RATE", "200"))
SECONDS = int(os.environ.get("BENCH_FRESHNESS_SECONDS", "120"))
DRAIN_TIMEOUT_S = 300

LATENCY = """SELECT quantile_cont(s, 0.5), quantile_cont(s, 0.95), max(s) FROM (
  SELECT epoch(l.committed_at - r.kafka_timestamp) AS s
  FROM (SELECT "partition", "offset", kafka_timestamp FROM stream.orders_events
        UNION ALL SELECT "partition", "offset", kafka_timestamp FROM stream.orders_dlq) r
  JOIN stream.kafka_offsets l ON r."partition" = l."partition"
   AND r."offset" >= l.start_offset AND r."offset" < l.end_offset)"""
LOADED = """SELECT "partition", "offset" FROM stream.orders_events
            UNION ALL SELECT "partition", "offset" FROM stream.orders_dlq"""


def _loaded(warehouse: Path) -> list[tuple[int, int]] | None:
    """Every loaded (partition, offset), or None while a batch holds the file."""
    try:
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            return conn.execute(LOADED).fetchall()
    except duckdb.Error:
        return None


def measure() -> dict[str, object]:
    """One run of the scenario on a fresh broker, instance and warehouse."""
    with streaming_stack("bench-freshness-") as (kafka, server, warehouse):
        try:
            producer = PacedProducer(kafka, RATE, SECONDS)
            producer.start()
            producer.join()
            acked = producer.acked
            producer.producer = (
                None  # librdkafka's client ends now, not retrying the stopped broker
            )
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while time.monotonic() < deadline:
                rows = _loaded(warehouse)
                if rows is not None and len(rows) >= len(acked):
                    break
                time.sleep(2)
            runs = Counter(
                r.status.value
                for r in server.instance().get_runs(
                    filters=dg.RunsFilter(job_name="orders_microbatch_job")
                )
            )
        finally:
            server.stop()
        rows = _loaded(warehouse) or []
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            median, p95, worst = conn.execute(LATENCY).fetchone()
    copies = Counter(rows)
    return {
        "acked": len(acked),
        "loaded": len(copies),
        "lost": len(set(acked) - copies.keys()),
        "doubled": sum(1 for n in copies.values() if n > 1),
        "latency_median_s": round(median, 1),
        "latency_p95_s": round(p95, 1),
        "latency_max_s": round(worst, 1),
        "runs": dict(runs),
    }


def run() -> None:
    print(f"freshness: {RATE} records/s for {SECONDS}s under dagster dev (sensor + daemon)")
    figures = measure()
    for name, value in figures.items():
        print(f"  {name}: {value}")
    print(
        f"  goal median <= 10 s: {'met' if figures['latency_median_s'] <= 10 else 'NOT met'}; "
        f"p95 <= 20 s: {'met' if figures['latency_p95_s'] <= 20 else 'NOT met'}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
