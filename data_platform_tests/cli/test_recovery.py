"""Recovery without an operator, on a real `dagster dev` (webserver, daemon, code server, run
workers) and the repo's own dagster.yaml: the whole process group is killed with SIGKILL while a
run is in the middle of its step (held there by a `:hang` fault point), then started again with
nothing else done. The dead run is marked failed, its `warehouse` pool slot is freed, the work is
done again by itself, and every record / every day is in the warehouse exactly once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from data_platform.faults import FAULTS_ENV, ONCE_ENV
from data_platform.ingestion import demo_source
from data_platform.kafka import producer
from data_platform.kafka.local_broker import LocalBroker
from data_platform.orders import event_producer
from data_platform.run_launcher import run_worker_pid
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform_tests.cli.dagster_dev import DagsterDev, RestartableDagsterDev
from data_platform_tests.cli.test_ui_graphql import BACKFILL, LAUNCH
from data_platform_tests.conftest import query

pytestmark = [pytest.mark.ui, pytest.mark.timeout(1200)]

POOL = "warehouse"
RECOVERY_BUDGET_S = 45  # the issue: failed and slot freed "within ~30 s"; slack for 2 busy cores


@pytest.fixture
def dev_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], RestartableDagsterDev]]:
    servers: list[RestartableDagsterDev] = []

    def make(extra_env: dict[str, str]) -> RestartableDagsterDev:
        servers.append(RestartableDagsterDev(tmp_path / f"dev{len(servers)}", extra_env))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def wait_for(what: str, check: Callable[[], object], timeout: float, server: DagsterDev):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise TimeoutError(f"not reached within {timeout:.0f}s: {what}\n{server.log(12000)}")


RETRY_CURSOR = f"EVENT_LOG_CONSUMER_CURSOR-{dg.DagsterEventType.RUN_FAILURE.value}"


def retry_cursor(instance: dg.DagsterInstance) -> str | None:
    """Where the run-retry daemon reads run failures from, once its first pass has saved it."""
    return instance.daemon_cursor_storage.get_cursor_values({RETRY_CURSOR}).get(RETRY_CURSOR)


def hanging_run(instance: dg.DagsterInstance, job_name: str, step_key: str) -> dg.DagsterRun | None:
    """A STARTED run of `job_name` whose step has started and has been held for 5 s."""
    started = dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.STARTED])
    for run in instance.get_runs(filters=started):
        starts = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.STEP_START
        ).records
        if any(r.event_log_entry.step_key == step_key for r in starts) and (
            time.time() - starts[0].event_log_entry.timestamp > 5
        ):
            return run
    return None


def claimed(instance: dg.DagsterInstance) -> set[str]:
    """Run ids holding a slot of pool `warehouse`."""
    return {s.run_id for s in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots}


def recover(server: RestartableDagsterDev, dead: dg.DagsterRun) -> dict[str, float]:
    """Start again with no fault armed; the dead run must be failed and its slot freed."""
    server.extra_env.pop(FAULTS_ENV, None)
    started = time.monotonic()
    server.start()
    serving = time.monotonic()
    instance = server.instance()
    wait_for(
        f"run {dead.run_id} marked FAILURE",
        lambda: instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE,
        RECOVERY_BUDGET_S,
        server,
    )
    failed_at = time.monotonic()
    wait_for(
        f"slot of {dead.run_id} freed", lambda: dead.run_id not in claimed(instance), 30, server
    )
    return {
        "restart_until_serving_s": round(serving - started, 1),
        "serving_until_run_failed_s": round(max(0.0, failed_at - serving), 1),
        "serving_until_slot_freed_s": round(time.monotonic() - serving, 1),
    }


def assert_loaded_exactly_once(server: RestartableDagsterDev, warehouse: Path, sent: list) -> None:
    """Wait until every produced record is in events or DLQ, then check none is there twice and
    that a micro-batch run succeeded."""

    def loaded() -> bool:
        try:
            rows = query(
                warehouse,
                "SELECT (SELECT COUNT(*) FROM stream.orders_events)"
                " + (SELECT COUNT(*) FROM stream.orders_dlq)",
            )[0][0]
        except Exception:  # locked by the batch in progress, or not created yet
            return False
        return rows == len(sent)

    wait_for("every record loaded", loaded, 180, server)
    rows = query(
        warehouse,
        'SELECT "partition", "offset" FROM stream.orders_events'
        ' UNION ALL SELECT "partition", "offset" FROM stream.orders_dlq',
    )
    assert len(rows) == len(set(rows)) == len(sent)  # no record twice, none lost
    assert set(rows) == {(p, o) for p, o, _ in sent}
    instance = server.instance()
    success = dg.RunsFilter(
        job_name="orders_microbatch_job", statuses=[dg.DagsterRunStatus.SUCCESS]
    )
    wait_for("a micro-batch run succeeded", lambda: instance.get_runs(filters=success), 60, server)
    wait_for("pool warehouse idle", lambda: not claimed(instance), 60, server)


@pytest.mark.kafka
def test_kill_9_of_the_daemon_with_its_run_mid_micro_batch(dev_factory, tmp_path) -> None:
    with LocalBroker(log_path=tmp_path / "tansu.log") as broker:
        kafka = KafkaResource(bootstrap_servers=broker.bootstrap_servers)
        kafka.ensure_topics()
        records = event_producer.generate(3_000, invalid_rate=0.01, seed=11)
        sent = producer.produce(kafka.bounded_config(), kafka.orders_topic, records)
        server = dev_factory(
            {
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                FAULTS_ENV: "microbatch.before_last_insert:hang",
            }
        )
        server.start()
        instance = server.instance()
        dead = wait_for(
            "a micro-batch run held mid-batch",
            lambda: hanging_run(instance, "orders_microbatch_job", "orders_microbatch"),
            240,
            server,
        )
        assert dead.run_id in claimed(instance)  # it holds the warehouse slot...
        server.kill_everything()
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.STARTED
        assert dead.run_id in claimed(instance)  # ...and nothing would ever give it back
        timings = recover(server, dead)
        warehouse = Path(server.env()["DATA_PLATFORM_WAREHOUSE"])
        assert_loaded_exactly_once(server, warehouse, sent)
        print(f"micro-batch recovery: {timings}")


def test_kill_9_of_a_range_backfill_mid_step(dev_factory) -> None:
    days = ["2024-03-01", "2024-03-02", "2024-03-03"]
    server = dev_factory({FAULTS_ENV: "ingestion.before_commit:hang"})
    server.start()
    params = {"partitionNames": days, "fromFailure": False,
              "assetSelection": [{"path": ["raw_orders"]}], "title": "killed backfill"}  # fmt: skip
    launched = server.graphql(LAUNCH, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    instance = server.instance()
    dead = wait_for(
        "the backfill's run held before its first commit",
        lambda: hanging_run(instance, "__ASSET_JOB", "raw_orders"),
        300,
        server,
    )
    # Dagster's run-retry daemon starts its cursor at the newest event on its first pass, so a
    # run that fails before that pass on a brand-new instance is never retried; a deployed
    # daemon made it long ago, and this test waits for it too before the kill.
    wait_for("the run-retry daemon's first pass", lambda: retry_cursor(instance), 120, server)
    server.kill_everything()
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.STARTED
    timings = recover(server, dead)

    # The rerun is Dagster's run retry of the dead run. Wait for it, not for the backfill's
    # status: the backfill daemon may judge the backfill in the same second the dead run is
    # marked failed, before the retry exists, and report COMPLETED_FAILED (Dagster's own race).
    def retried_run_ended() -> list[dg.DagsterRun]:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": dead.run_id}))
        return runs if runs and all(r.is_finished for r in runs) else []

    wait_for("the dead run's retry finished", retried_run_ended, 400, server)
    backfill = server.graphql(BACKFILL, {"id": launched["backfillId"]})["partitionBackfillOrError"]
    warehouse = Path(server.env()["DATA_PLATFORM_WAREHOUSE"])
    per_day = dict(
        query(
            warehouse,
            "SELECT CAST(partition_date AS VARCHAR), COUNT(*) FROM raw.orders GROUP BY 1",
        )
    )
    expected = {d: len(demo_source.generate_day(date.fromisoformat(d)).orders) for d in days}
    assert per_day == expected, (backfill, server.log(8000))  # every day, each exactly once
    audit = query(
        warehouse,
        "SELECT partition_key, status FROM meta.etl_runs WHERE run_id <> ? ORDER BY 1",
        [dead.run_id],
    )
    assert audit == [(d, "completed") for d in days]
    retried = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": dead.run_id}))
    assert [r.status for r in retried] == [dg.DagsterRunStatus.SUCCESS]
    wait_for("pool warehouse idle", lambda: not claimed(instance), 60, server)
    print(f"backfill recovery: {timings}, backfill {backfill['status']}")


def step_pid(instance: dg.DagsterInstance, run_id: str) -> int:
    """The pid of the process running the run's steps: the run worker itself, since the code
    location's executor is in-process."""
    found = run_worker_pid(instance, run_id)
    assert found is not None, f"no run worker pid reported for run {run_id}"
    return found[0]


@pytest.mark.kafka
def test_kill_9_of_the_step_process_mid_micro_batch(dev_factory, tmp_path) -> None:
    """An OOM kill hits the process doing the work (the run worker: steps run in process): the
    daemon stays up, run monitoring fails the run, its slot is freed, and the sensor plans the
    range again with nothing else done."""
    with LocalBroker(log_path=tmp_path / "tansu.log") as broker:
        kafka = KafkaResource(bootstrap_servers=broker.bootstrap_servers)
        kafka.ensure_topics()
        records = event_producer.generate(2_000, invalid_rate=0.01, seed=12)
        sent = producer.produce(kafka.bounded_config(), kafka.orders_topic, records)
        # Only the first batch hangs: its marker file disarms the fault for every later run.
        server = dev_factory(
            {
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                FAULTS_ENV: "microbatch.before_last_insert:hang",
                ONCE_ENV: str(tmp_path / "fault-fired"),
            }
        )
        server.start()
        instance = server.instance()
        dead = wait_for(
            "a micro-batch run held mid-batch",
            lambda: hanging_run(instance, "orders_microbatch_job", "orders_microbatch"),
            240,
            server,
        )
        started = time.monotonic()
        os.kill(step_pid(instance, dead.run_id), signal.SIGKILL)
        wait_for(
            "the run failed",
            lambda: instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE,
            60,
            server,
        )
        failed_after = time.monotonic() - started
        wait_for("its slot freed", lambda: dead.run_id not in claimed(instance), 60, server)
        freed_after = time.monotonic() - started
        warehouse = Path(server.env()["DATA_PLATFORM_WAREHOUSE"])
        assert_loaded_exactly_once(server, warehouse, sent)
        print(
            f"step kill: run failed after {failed_after:.1f}s, slot freed after {freed_after:.1f}s"
        )
