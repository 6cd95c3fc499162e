"""Spark windows: 200k events from Kafka through `order_window_aggregates`, next to DuckDB SQL.

Spark session start-up is timed on its own; the asset run (Kafka read, parse, watermark,
5-minute windows, foreachBatch upsert into DuckDB) is timed through `dg.materialize`. The
reference computes the same windows with one DuckDB SQL query over the same JSON values.
Target: under 30 s on 2 cores, session start included.
"""

import json
import os
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from data_platform import warehouse
from data_platform.kafka.local_broker import LocalBroker
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.windows.assets import order_window_aggregates
from data_platform.streaming.windows.spark_resource import SparkResource

EVENTS = 200_000
CUSTOMERS = 500
START = datetime(2024, 3, 1, tzinfo=timezone.utc)

DUCKDB_WINDOWS = """
    WITH events AS (
        SELECT value->>'customer_id' AS customer_id,
               CAST(value->>'amount' AS DOUBLE) AS amount,
               CAST(value->>'event_time' AS TIMESTAMPTZ) AS event_time
        FROM raw_events
    )
    SELECT time_bucket(INTERVAL 5 MINUTE, event_time) AS window_start, customer_id,
           COUNT(*) AS order_count, SUM(CAST(amount AS DECIMAL(18, 2))) AS total_amount
    FROM events GROUP BY ALL
"""


def generate(n: int, seed: int = 5) -> list[tuple[bytes, bytes]]:
    """In-order-ish events (up to 2 minutes of jitter, inside the watermark): none is late."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        customer = f"c{rng.randrange(CUSTOMERS):04d}"
        at = START + timedelta(seconds=i * 0.25 - rng.uniform(0, 120))
        value = {"order_id": f"o{i}", "customer_id": customer,
                 "amount": round(rng.uniform(1, 500), 2), "currency": "USD",
                 "event_time": at.isoformat().replace("+00:00", "Z")}  # fmt: skip
        records.append((customer.encode(), json.dumps(value).encode()))
    return records


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256_000)
    started = time.perf_counter()
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    return time.perf_counter() - started


def duckdb_reference(records: list[tuple[bytes, bytes]]) -> tuple[float, tuple]:
    """Seconds for the windows in DuckDB SQL, and (windows, events, amount) to compare."""
    frame = pd.DataFrame({"value": [v.decode() for _, v in records]})
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.register("raw_events", frame)
    started = time.perf_counter()
    conn.execute(f"CREATE TABLE windows AS {DUCKDB_WINDOWS}")
    elapsed = time.perf_counter() - started
    totals = conn.execute(
        "SELECT COUNT(*), SUM(order_count), SUM(total_amount) FROM windows"
    ).fetchone()
    return elapsed, tuple(totals)


def materialize(
    spark: SparkResource, kafka: KafkaResource, wh_path: Path, checkpoint: str
) -> tuple[float, dg.ExecuteInProcessResult]:
    started = time.perf_counter()
    result = dg.materialize(
        [order_window_aggregates],
        resources={
            "spark": spark,
            "kafka": kafka,
            "warehouse": WarehouseResource(path=str(wh_path)),
        },
        run_config={
            "ops": {"order_window_aggregates": {"config": {"checkpoint_name": checkpoint}}}
        },
    )
    assert result.success
    return time.perf_counter() - started, result


def run() -> None:
    load_before = os.getloadavg()[0]
    records = generate(EVENTS)
    with tempfile.TemporaryDirectory() as tmp, LocalBroker() as broker:
        os.environ["DATA_PLATFORM_STATE_DIR"] = tmp
        wh_path = Path(tmp) / "bench.duckdb"
        produce_s = produce(broker.bootstrap_servers, "orders", records)
        print(f"produced {EVENTS} events in {produce_s:.1f}s (not timed below)", flush=True)

        started = time.perf_counter()
        spark = SparkResource(reuse_active_session=True, checkpoint_root=f"{tmp}/ckpt")
        session = spark.builder().getOrCreate()
        session_s = time.perf_counter() - started
        kafka = KafkaResource(bootstrap_servers=broker.bootstrap_servers)
        try:
            asset_s, result = materialize(spark, kafka, wh_path, "cold")
            # The same events again from a new checkpoint into a new file, JVM already warm.
            warm_s, warm = materialize(spark, kafka, Path(tmp) / "warm.duckdb", "warm")
        finally:
            session.stop()
        assert result.success
        duck_s, reference = duckdb_reference(records)
        with warehouse.connect(wh_path, read_only=True) as conn:
            totals = conn.execute(
                "SELECT COUNT(*), SUM(order_count), SUM(total_amount) "
                "FROM stream.order_window_aggregates"
            ).fetchone()
    report(session_s, asset_s, warm_s, duck_s, result)
    report_phases(asset_s, result, warm_s, warm)
    print(f"{os.cpu_count()} cores; 1-min load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (other processes share the cores)")  # fmt: skip
    print(f"same windows, counts and sums as DuckDB: {tuple(totals) == reference} {reference}")


def report(
    session_s: float,
    asset_s: float,
    warm_s: float,
    duck_s: float,
    result: dg.ExecuteInProcessResult,
) -> None:
    [mat] = result.asset_materializations_for_node("order_window_aggregates")
    meta = {k: v.value for k, v in mat.metadata.items()}
    total = session_s + asset_s
    rows = [
        ("Spark session start", f"{session_s:.1f}", ""),
        ("Spark asset (Kafka → windows → DuckDB)", f"{asset_s:.1f}", f"{EVENTS / asset_s:,.0f}"),
        ("Spark total incl. session start", f"{total:.1f}", f"{EVENTS / total:,.0f}"),
        ("Spark asset again, warm session", f"{warm_s:.1f}", f"{EVENTS / warm_s:,.0f}"),
        ("DuckDB SQL, same windows (in memory)", f"{duck_s:.2f}", f"{EVENTS / duck_s:,.0f}"),
    ]
    print(f"{'step':<42}{'seconds':>9}{'events/s':>12}")
    for name, seconds, rate in rows:
        print(f"{name:<42}{seconds:>9}{rate:>12}")
    print(f"ratio Spark asset / DuckDB: {asset_s / duck_s:.0f}x; target total < 30 s: "
          f"{'met' if total < 30 else 'NOT met'}")  # fmt: skip
    print(f"batches {meta['batches']}, windows {meta['windows_updated']}, "
          f"late {meta['late_records']}")  # fmt: skip


PHASES = [
    ("latestOffset", "find the end offsets (Python source, driver)"),
    ("queryPlanning", "plan the batch"),
    ("addBatch", "run the batch (everything below)"),
    ("sink_to_pandas", "  toPandas: runs the plan (source read, parse, windows) + Arrow"),
    ("sink_duckdb", "  DuckDB upsert of the updated windows"),
    ("walCommit", "offset log write"),
    ("commitOffsets", "commit log write"),
    ("triggerExecution", "all triggers, end to end"),
]


def _phases(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    [mat] = result.asset_materializations_for_node("order_window_aggregates")
    return dict(mat.metadata["seconds_by_phase"].value)  # type: ignore[arg-type]


def report_phases(
    cold_s: float, cold: dg.ExecuteInProcessResult, warm_s: float, warm: dg.ExecuteInProcessResult
) -> None:
    """Where the asset's time goes (Spark's progress `durationMs`, summed over the triggers)."""
    cold_phases, warm_phases = _phases(cold), _phases(warm)
    print(f"{'phase (seconds, summed over triggers)':<74}{'cold':>7}{'warm':>7}")
    for key, label in PHASES:
        cold_value, warm_value = cold_phases.get(key, 0), warm_phases.get(key, 0)
        print(f"{key + ': ' + label:<74}{cold_value:>7.2f}{warm_value:>7.2f}")
    outside = [run_s - phases.get("triggerExecution", 0) for run_s, phases in
               ((cold_s, cold_phases), (warm_s, warm_phases))]  # fmt: skip
    print(f"{'outside the triggers: Dagster run, topic guard, query start and stop':<74}"
          f"{outside[0]:>7.2f}{outside[1]:>7.2f}")  # fmt: skip
