"""The local run launcher's health check on real processes: the run worker's pid is read from
the run's own engine events; a live worker is RUNNING, a gone (or zombie, or reused) pid FAILED."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus

from data_platform.run_launcher import LocalRunLauncher, process_alive, run_worker_pid

JOB_SCRIPT = """
import sys
import dagster as dg

@dg.op
def hello() -> int:
    return 1

@dg.job
def tiny():
    hello()

with dg.DagsterInstance.from_config(sys.argv[1]) as instance:
    result = tiny.execute_in_process(instance=instance)
    print(result.run_id, flush=True)
"""


@dg.op
def hello() -> int:
    return 1


@dg.job
def tiny_here() -> None:
    hello()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "dagster.yaml").write_text(
        "run_launcher:\n  module: data_platform.run_launcher\n  class: LocalRunLauncher\n"
    )
    dg.DagsterInstance.from_config(str(tmp_path)).dispose()
    return tmp_path


def test_a_run_whose_worker_is_gone_is_failed_and_a_live_one_is_running(home: Path) -> None:
    done = subprocess.run([sys.executable, "-c", JOB_SCRIPT, str(home)], check=True,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    run_id = done.stdout.split()[-1]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_launcher, LocalRunLauncher)
        assert instance.run_launcher.supports_check_run_worker_health
        pid, _ = run_worker_pid(instance, run_id)
        assert pid != 0
        run = instance.get_run_by_id(run_id)
        result = instance.run_launcher.check_run_worker_health(run)
        assert result.status == WorkerStatus.FAILED and str(pid) in result.msg

        # In this process: the worker (this very process) is alive.
        here = tiny_here.execute_in_process(instance=instance)
        assert run_worker_pid(instance, here.run_id)[0] == os.getpid()
        live = instance.run_launcher.check_run_worker_health(instance.get_run_by_id(here.run_id))
        assert live.status == WorkerStatus.RUNNING


def test_process_alive_sees_zombies_and_reused_pids() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = time.time()
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline
        and Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    ):
        time.sleep(0.05)
    assert not process_alive(child.pid, started + 1)  # exited, not yet reaped: a zombie
    child.wait()
    assert not process_alive(child.pid, started + 1)  # reaped: gone
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert process_alive(sleeper.pid, time.time())
        # A worker that reported an hour ago cannot be a process that started just now.
        assert not process_alive(sleeper.pid, time.time() - 3600)
    finally:
        sleeper.kill()
        sleeper.wait()


def _starting_run(instance: dg.DagsterInstance, worker_pid: int | None) -> dg.DagsterRun:
    """A run the launcher has started launching (RUN_STARTING), with its worker's pid event."""
    run = instance.create_run_for_job(tiny_here)
    instance.report_dagster_event(
        dg.DagsterEvent(dg.DagsterEventType.RUN_STARTING.value, job_name=run.job_name), run.run_id
    )
    if worker_pid is not None:
        instance.report_engine_event(
            f"Started process for run (pid: {worker_pid}).",
            run,
            EngineEventData(metadata={"pid": dg.MetadataValue.text(str(worker_pid))}),
        )
    return instance.get_run_by_id(run.run_id)


def test_a_launch_lost_with_its_daemon_is_failed_and_a_live_one_is_left(home: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        launcher = instance.run_launcher
        dead_worker = _starting_run(instance, gone.pid)
        never_started = _starting_run(instance, None)
        live = _starting_run(instance, os.getpid())
        runs = [dead_worker, never_started, live]
        assert {r.status for r in runs} == {dg.DagsterRunStatus.STARTING}

        # Within the grace period only the run whose worker is known to be gone is failed.
        assert launcher.fail_dead_launches(runs) == [dead_worker.run_id]
        # Past it, a launch that never reported a worker is failed too; the live one stays.
        assert launcher.fail_dead_launches(runs[1:], grace_seconds=0) == [never_started.run_id]
        status = {r.run_id: instance.get_run_by_id(r.run_id).status for r in runs}
        assert status == {
            dead_worker.run_id: dg.DagsterRunStatus.FAILURE,
            never_started.run_id: dg.DagsterRunStatus.FAILURE,
            live.run_id: dg.DagsterRunStatus.STARTING,
        }
        failure = instance.get_records_for_run(
            never_started.run_id, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records[0]
        assert "no run worker started within 0s" in failure.event_log_entry.message


def test_slots_of_dead_or_ended_runs_are_freed_and_a_live_holder_keeps_its_own(
    home: Path,
) -> None:
    """What a CLI run does before it claims the warehouse slot on a daemon-less instance."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("warehouse", 3)
        dead = _starting_run(instance, gone.pid)
        ended = _starting_run(instance, os.getpid())
        instance.report_run_failed(ended, "ended; its slot was never given back")
        alive = _starting_run(instance, os.getpid())
        for run in (dead, ended, alive):
            assert storage.claim_concurrency_slot("warehouse", run.run_id, "step").is_claimed
        freed = instance.run_launcher.free_dead_holders("warehouse")
        assert sorted(freed) == sorted([dead.run_id, ended.run_id])
        holders = {s.run_id for s in storage.get_concurrency_info("warehouse").claimed_slots}
        assert holders == {alive.run_id}
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTING
