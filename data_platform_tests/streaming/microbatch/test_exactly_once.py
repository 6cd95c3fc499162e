"""Nothing lost, nothing doubled: re-runs, injected faults on both sides of the warehouse commit,
backpressure, an unreachable broker and a locked warehouse."""

import itertools
import subprocess
import sys
import time

import dagster as dg
import pytest

from data_platform.faults import FAULTS_ENV
from data_platform.kafka import client
from data_platform.kafka.local_broker import free_port
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch import jobs
from data_platform_tests.streaming.microbatch.test_microbatch import produce, table_count

pytestmark = pytest.mark.kafka


def committed(kafka: KafkaResource) -> dict[int, int | None]:
    return client.committed_offsets(
        kafka.librdkafka_config(), kafka.consumer_group, kafka.orders_topic, [0, 1, 2]
    )


def ranges_of(request: dg.RunRequest) -> dict[int, tuple[int, int]]:
    ranges = request.run_config["ops"]["orders_microbatch"]["config"]["ranges"]
    return {r["partition"]: (r["start"], r["end"]) for r in ranges}


@pytest.mark.both_backends
def test_same_range_twice_adds_nothing(kafka, harness_factory, warehouse) -> None:
    produce(kafka, 500, invalid_rate=0.05)
    harness = harness_factory()
    (request,) = harness.tick().run_requests
    first, second = harness.execute(request), harness.execute(request)
    assert first.success and second.success
    assert table_count(warehouse, "stream.orders_events") == 475
    assert table_count(warehouse, "stream.orders_dlq") == 25
    assert table_count(warehouse, "stream.kafka_offsets") == len(ranges_of(request))
    meta = second.asset_materializations_for_node("orders_microbatch")[0].metadata
    assert meta["records_loaded"].value == 0 and meta["records_already_present"].value == 500
    assert meta["dlq_published"].value == 0  # the re-run does not re-publish dead letters
    assert isinstance(harness.tick(), dg.SkipReason)


@pytest.mark.both_backends
def test_fault_after_warehouse_commit_rerun_adds_nothing_and_commits(
    kafka, harness_factory, warehouse, monkeypatch
) -> None:
    sent = produce(kafka, 600)
    harness = harness_factory()
    (request,) = harness.tick().run_requests
    monkeypatch.setenv(FAULTS_ENV, "microbatch.after_warehouse_commit")
    assert not harness.execute(request).success
    assert table_count(warehouse, "stream.orders_events") == 600  # the warehouse has it all
    assert set(committed(kafka).values()) == {None}  # but Kafka was never told
    monkeypatch.delenv(FAULTS_ENV)
    after_crash = harness.tick()  # the ledger says it is loaded: no re-plan...
    assert isinstance(after_crash, dg.SensorResult) and not after_crash.run_requests
    reported = {e.asset_key.to_user_string() for e in after_crash.asset_events}
    assert reported == {"orders_events", "orders_dlq"}  # ...and the dead run's batch is reported
    assert harness.execute(request).success  # re-running the failed run...
    assert table_count(warehouse, "stream.orders_events") == 600  # ...adds nothing
    ends = {p: end for p, (_, end) in ranges_of(request).items()}
    assert committed(kafka) == {p: ends.get(p) for p in (0, 1, 2)}
    assert sum(ends.values()) == len(sent)


@pytest.mark.both_backends
def test_fault_before_warehouse_commit_writes_nothing_and_replans(
    kafka, harness_factory, warehouse, monkeypatch
) -> None:
    produce(kafka, 400, invalid_rate=0.05)
    harness = harness_factory()
    (request,) = harness.tick().run_requests
    monkeypatch.setenv(FAULTS_ENV, "microbatch.before_warehouse_commit")
    assert not harness.execute(request).success
    with warehouse.connect(read_only=True) as conn:
        counts = [
            conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("stream.orders_events", "stream.orders_dlq", "stream.kafka_offsets")
        ]
    assert counts == [0, 0, 0]
    assert set(committed(kafka).values()) == {None}
    monkeypatch.delenv(FAULTS_ENV)
    (retry,) = harness.tick().run_requests  # the same range again, under a fresh run key
    assert ranges_of(retry) == ranges_of(request)
    assert retry.run_key == f"{request.run_key} attempt=1"
    assert (request.tags[jobs.ATTEMPT_TAG], retry.tags[jobs.ATTEMPT_TAG]) == ("0", "1")
    assert harness.execute(retry).success
    assert table_count(warehouse, "stream.orders_events") == 380
    assert table_count(warehouse, "stream.orders_dlq") == 20
    assert isinstance(harness.tick(), dg.SkipReason)


def test_broker_down_gives_skip_reason_fast(warehouse, instance) -> None:
    from data_platform_tests.streaming.microbatch.conftest import Harness, make_defs

    down = KafkaResource(bootstrap_servers=f"127.0.0.1:{free_port()}", orders_topic="orders")
    harness = Harness(make_defs(down, warehouse), instance, down, warehouse)
    started = time.monotonic()
    result = harness.tick()
    assert time.monotonic() - started < 10
    assert isinstance(result, dg.SkipReason)
    assert "unavailable" in result.skip_message and down.resolved_bootstrap_servers() in (
        result.skip_message
    )


@pytest.mark.both_backends
def test_backpressure_while_runs_are_in_flight(kafka, harness_factory, instance) -> None:
    """The next batch is planned while one loads (two in flight by default), not a third."""
    produce(kafka, 100)
    harness = harness_factory()
    job = harness.defs.resolve_job_def(jobs.JOB_NAME)
    in_flight = [
        instance.create_run_for_job(
            job, tags={jobs.TOPIC_TAG: kafka.orders_topic}, status=dg.DagsterRunStatus.STARTED
        )
        for _ in range(2)
    ]
    result = harness.tick()
    assert isinstance(result, dg.SkipReason) and "backpressure" in result.skip_message
    instance.report_run_failed(in_flight[0])
    assert isinstance(harness.tick(), dg.SensorResult)


@pytest.mark.both_backends
def test_partition_order_over_many_batches(kafka, harness_factory, warehouse) -> None:
    sent = produce(kafka, 3_000, seed=5)
    runs = harness_factory(max_records_per_batch=400).drain()
    assert len(runs) == 8
    with warehouse.connect(read_only=True) as conn:
        rows = conn.execute(
            'SELECT "partition", "offset", loaded_at FROM stream.orders_events ORDER BY 1, 2'
        ).fetchall()
        ledger = conn.execute(
            'SELECT "partition", start_offset, end_offset FROM stream.kafka_offsets '
            "ORDER BY committed_at, 1"
        ).fetchall()
    for partition in (0, 1, 2):
        loaded = [(o, at) for p, o, at in rows if p == partition]
        assert [o for o, _ in loaded] == list(range(len(loaded)))  # every offset, no gaps
        stamps = [at for _, at in loaded]
        assert stamps == sorted(stamps)  # no offset was loaded before an earlier one
        spans = [(s, e) for p, s, e in ledger if p == partition]
        assert spans[0][0] == 0 and spans[-1][1] == len(loaded)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    by_coordinate = {(p, o): r.value for p, o, r in sent}
    assert len(rows) == len(sent) == len(by_coordinate)


def test_locked_warehouse_does_not_break_a_tick(kafka, harness_factory, warehouse) -> None:
    produce(kafka, 50)
    harness = harness_factory()
    harness.drain()
    produce(kafka, 50, seed=9)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]);"
            " print('locked', flush=True); time.sleep(60)",
            str(warehouse.resolved_path()),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        result = harness.tick()  # the last batch succeeded: the cursor is trusted
        assert time.monotonic() - started < 10
        assert isinstance(result, dg.SensorResult)
        assert sum(e - s for s, e in ranges_of(result.run_requests[0]).values()) == 50
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.both_backends
def test_ledger_ahead_of_broker_plans_nothing(kafka, harness_factory, warehouse) -> None:
    """A recreated topic restarts at offset 0: the sensor must not skip its records silently."""
    produce(kafka, 30)
    harness = harness_factory()
    harness.drain()
    with warehouse.connect() as conn:  # as if the topic had held 1,000 records before
        conn.execute(
            "INSERT INTO stream.kafka_offsets VALUES (?, 0, 0, 1000, 'old-run', now())",
            [kafka.orders_topic],
        )
    harness.cursor = None
    result = harness.tick()
    assert isinstance(result, dg.SkipReason)
    assert "ahead of the broker" in result.skip_message and "forget-topic" in result.skip_message


@pytest.mark.both_backends
def test_overlapping_ranges_load_each_offset_once(kafka, harness_factory, warehouse) -> None:
    """Rows are keyed by Kafka coordinates through the ledger: a hand-written run over a range
    that overlaps loaded ones inserts only the offsets no batch has loaded yet."""
    sent = produce(kafka, 600, invalid_rate=0.05, seed=2)
    harness = harness_factory(max_records_per_batch=300)
    harness.drain()
    (request,) = [
        dg.RunRequest(run_config={"ops": {"orders_microbatch": {"config": {"ranges": [
            {"partition": p, "start": 0, "end": sum(1 for q, _, _ in sent if q == p)}
            for p in (0, 1, 2)
        ]}}}})
    ]  # fmt: skip
    run = harness.execute(request)
    assert run.success
    meta = run.asset_materializations_for_node("orders_microbatch")[0].metadata
    assert meta["records_loaded"].value == 0 and meta["records_already_present"].value == 600
    with warehouse.connect(read_only=True) as conn:
        rows = conn.execute(
            'SELECT COUNT(*), COUNT(DISTINCT ("partition", "offset")) FROM stream.orders_events'
        ).fetchone()
        dead = conn.execute("SELECT COUNT(*) FROM stream.orders_dlq").fetchone()[0]
    assert rows[0] == rows[1] == 570 and dead == 30


@pytest.mark.both_backends
def test_a_failed_insert_rolls_the_whole_batch_back(
    kafka, harness_factory, warehouse, monkeypatch
) -> None:
    """Event chunks are inserted on a worker thread; its failure fails the run, and nothing of
    the batch (events, dead letters, ledger) stays behind."""
    produce(kafka, 30_000, invalid_rate=0.01, seed=4)
    harness = harness_factory()
    (request,) = harness.tick().run_requests
    monkeypatch.setenv(FAULTS_ENV, "microbatch.insert_events")
    run = harness.execute(request)
    assert not run.success
    assert "injected fault at 'microbatch.insert_events'" in str(run.get_step_failure_events())
    with warehouse.connect(read_only=True) as conn:
        counts = [
            conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("stream.orders_events", "stream.orders_dlq", "stream.kafka_offsets")
        ]
    assert counts == [0, 0, 0]
    monkeypatch.delenv(FAULTS_ENV)
    harness.drain()
    assert table_count(warehouse, "stream.orders_events") == 29_700
