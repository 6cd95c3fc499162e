"""Soak: a steady stream into the whole stack, with the daemon and its runs killed twice.

2,000 records/s (1% poison) for 10 minutes go to the local broker while a real `dagster dev`
(webserver, daemon, the Kafka sensor, run workers; the repo's dagster.yaml) loads them. Twice, at
one third and two thirds of the way, the whole process group is killed with SIGKILL, as a crashed
host would be, and started again at once, as a supervisor would; nobody touches the instance.

Reported: records produced, loaded (events + dead letters), lost, doubled; the produce-to-warehouse
lag from the record's Kafka timestamp to the commit of the batch holding it (median, p99,
max: the longest stall), the longest gap between two batch commits, the restart times, the runs
by status, and the `warehouse` pool at the end (slots claimed, steps waiting). Expected: 0 lost,
0 doubled, a stall under a minute, an idle pool.

The Spark windows sensor is stopped first (BENCH_SOAK_WINDOWS=1 keeps it): its run over the
whole topic holds the warehouse's single writer slot for minutes (467 s seen here at 1.2M
events), so the micro-batches would measure DuckDB's one-writer limit, not their recovery.
BENCH_SOAK_RATE and BENCH_SOAK_SECONDS scale it down for a quick look.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from confluent_kafka import KafkaError, Message, Producer

from data_platform.kafka.local_broker import LocalBroker
from data_platform.orders import event_producer
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform_tests.cli.dagster_dev import RestartableDagsterDev

RATE = int(os.environ.get("BENCH_SOAK_RATE", "2000"))
SECONDS = int(os.environ.get("BENCH_SOAK_SECONDS", "600"))
KILL_AT = (SECONDS / 3, 2 * SECONDS / 3)
KEEP_WINDOWS = os.environ.get("BENCH_SOAK_WINDOWS") == "1"
WINDOWS_SENSOR = "order_windows_after_orders_events_sensor"
SENSORS = (
    """{ repositoriesOrError { ... on RepositoryConnection { nodes { sensors { id name } } } } }"""
)
STOP_SENSOR = """mutation($id: String) { stopSensor(id: $id) { __typename
  ... on StopSensorMutationResult { instigationState { status } } } }"""
DRAIN_TIMEOUT_S = 600
POOL = "warehouse"
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


class PacedProducer(threading.Thread):
    """librdkafka producer sending `rate` records a second for `seconds`, due records every
    10 ms; keeps each acknowledged (partition, offset) and any delivery error."""

    def __init__(self, kafka: KafkaResource, rate: int = RATE, seconds: int = SECONDS) -> None:
        super().__init__(daemon=True)
        self.rate, self.seconds = rate, seconds
        self.topic = kafka.orders_topic
        connection = kafka.librdkafka_config()
        connection.pop("isolation.level", None)  # a consumer setting
        self.producer = Producer({**connection, "enable.idempotence": True, "linger.ms": 10})
        self.acked: list[tuple[int, int]] = []
        self.errors: list[str] = []
        self.produced = 0

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.errors.append(str(error))
        else:
            self.acked.append((message.partition(), message.offset()))

    def run(self) -> None:
        records = event_producer.generate(self.rate * self.seconds, invalid_rate=0.01, seed=2026)
        started = time.monotonic()
        for record in records:
            while self.produced >= (time.monotonic() - started) * self.rate:
                self.producer.poll(0.01)
            self.producer.produce(
                self.topic, key=record.key, value=record.value, on_delivery=self._delivered
            )
            self.produced += 1
            self.producer.poll(0)
        self.producer.flush(60)


def _count(warehouse: Path) -> int | None:
    """Events + dead letters, or None while a batch holds the file (DuckDB: one writer)."""
    try:
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            return conn.execute(
                "SELECT (SELECT COUNT(*) FROM stream.orders_events)"
                " + (SELECT COUNT(*) FROM stream.orders_dlq)"
            ).fetchone()[0]
    except duckdb.Error:
        return None


def _figures(warehouse: Path, acked: list[tuple[int, int]]) -> dict[str, object]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        rows = conn.execute(
            """SELECT "partition", "offset" FROM stream.orders_events
               UNION ALL
               SELECT "partition", "offset" FROM stream.orders_dlq"""
        ).fetchall()
        dead = conn.execute("SELECT COUNT(*) FROM stream.orders_dlq").fetchone()[0]
        # Visible in the warehouse = the commit of the ledger range that holds the record.
        lags = conn.execute(
            """SELECT quantile_cont(s, 0.5), quantile_cont(s, 0.99), max(s) FROM (
                 SELECT epoch(l.committed_at - r.kafka_timestamp) AS s
                 FROM (SELECT "partition", "offset", kafka_timestamp FROM stream.orders_events
                       UNION ALL
                       SELECT "partition", "offset", kafka_timestamp FROM stream.orders_dlq) r
                 JOIN stream.kafka_offsets l ON r."partition" = l."partition"
                  AND r."offset" >= l.start_offset AND r."offset" < l.end_offset)"""
        ).fetchone()
        gap = conn.execute(
            """SELECT max(epoch(committed_at - previous)) FROM (
                 SELECT committed_at, lag(committed_at) OVER (ORDER BY committed_at) AS previous
                 FROM (SELECT DISTINCT run_id, committed_at FROM stream.kafka_offsets))"""
        ).fetchone()[0]
    copies = Counter(rows)
    expected = set(acked)
    return {
        "loaded": len(copies),
        "dead_lettered": dead,
        "lost": len(expected - copies.keys()),
        "doubled": sum(1 for n in copies.values() if n > 1),
        "unexpected": len(copies.keys() - expected),
        "lag_median_s": round(lags[0], 1),
        "lag_p99_s": round(lags[1], 1),
        "longest_stall_s": round(lags[2], 1),
        "longest_gap_between_commits_s": round(gap or 0.0, 1),
    }


def _pool_and_runs(instance: dg.DagsterInstance) -> dict[str, object]:
    info = instance.event_log_storage.get_concurrency_info(POOL)
    runs = Counter(r.status.value for r in instance.get_runs())
    return {
        "pool_slots": info.slot_count,
        "pool_claimed": len(info.claimed_slots),
        "pool_pending_steps": len(info.pending_steps),
        "runs": dict(sorted(runs.items())),
    }


def stop_sensor(server: RestartableDagsterDev, name: str) -> None:
    """Stop a sensor as a person would in the UI (its state persists across restarts)."""
    repositories = server.graphql(SENSORS)["repositoriesOrError"]["nodes"]
    ids = [s["id"] for r in repositories for s in r["sensors"] if s["name"] == name]
    result = server.graphql(STOP_SENSOR, {"id": ids[0]})["stopSensor"]
    if result.get("instigationState", {}).get("status") != "STOPPED":
        raise RuntimeError(f"could not stop {name}: {result}")


@contextmanager
def streaming_stack(
    prefix: str, keep_windows: bool = False
) -> Iterator[tuple[KafkaResource, RestartableDagsterDev, Path]]:
    """A fresh broker (topics created) and a started `dagster dev` on its own instance and
    warehouse, the Spark windows sensor stopped unless kept; yields the Kafka resource, the
    server and the warehouse file."""
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as tmp,
        LocalBroker(log_path=Path(tmp) / "tansu.log") as broker,
    ):
        kafka = KafkaResource(bootstrap_servers=broker.bootstrap_servers)
        kafka.ensure_topics()
        server = RestartableDagsterDev(
            Path(tmp), {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers}
        )
        server.start()
        try:
            if not keep_windows:
                stop_sensor(server, WINDOWS_SENSOR)
            yield kafka, server, Path(server.env()["DATA_PLATFORM_WAREHOUSE"])
        finally:
            server.stop()


def run() -> None:
    with streaming_stack("bench-soak-", keep_windows=KEEP_WINDOWS) as (kafka, server, warehouse):
        print(f"soak: {RATE} records/s for {SECONDS}s, kill -9 of everything at "
              f"{', '.join(f'{t:.0f}s' for t in KILL_AT)}", flush=True)  # fmt: skip
        producer = PacedProducer(kafka)
        started = time.monotonic()
        producer.start()
        restarts = []
        try:
            for kill_at in KILL_AT:
                time.sleep(max(0.0, kill_at - (time.monotonic() - started)))
                server.kill_everything()
                killed, produced = time.monotonic(), producer.produced
                server.start()
                restarts.append(round(time.monotonic() - killed, 1))
                print(f"  killed at {killed - started:.0f}s ({produced} produced), "
                      f"serving again after {restarts[-1]}s", flush=True)  # fmt: skip
            producer.join()
            produced_s = time.monotonic() - started
            acked = producer.acked
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while time.monotonic() < deadline and _count(warehouse) != len(acked):
                time.sleep(5)
            drained_s = time.monotonic() - started - produced_s
            # Wait for the runs still going (e.g. a publish-only batch) to end, then read the pool.
            instance = server.instance()
            busy = dg.RunsFilter(statuses=IN_PROGRESS)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and instance.get_runs(filters=busy, limit=1):
                time.sleep(2)
            time.sleep(15)  # free_slots_after_run_end_seconds (10 s) plus a monitoring poll
            state = _pool_and_runs(instance)
        finally:
            server.stop()
        figures = _figures(warehouse, acked)
        rate = producer.produced / produced_s
        print(f"  produced {producer.produced} in {produced_s:.0f}s ({rate:,.0f}/s), "
              f"acknowledged {len(acked)}, delivery errors {len(producer.errors)}; "
              f"drained {drained_s:.0f}s after the last")  # fmt: skip
        print(f"  restarts (kill -9 until serving): {restarts}")
        for name, value in {**figures, **state}.items():
            print(f"  {name}: {value}")
        print(f"  load average at the end: {os.getloadavg()}")
