"""The local instance's run launcher: Dagster's DefaultRunLauncher plus a run-worker health check,
so run monitoring can tell a dead run from a live one on a single machine.

Dagster's DefaultRunLauncher offers no health check, so with run monitoring on, a run whose worker
was killed together with the daemon and the code server (kill -9 of the process group, an OOM
kill) stays STARTED forever and keeps its pool slots. Every run worker names its pid in an engine
event ("Started process for run (pid: N)" for launched runs, the executor's "(pid: N)" line for
CLI runs); this launcher answers FAILED when that process is gone (or the pid now belongs to a
younger process), so the monitoring daemon marks the run failed and, with
`free_slots_after_run_end_seconds`, frees its slots. It assumes what the local dagster.yaml
describes: the daemon and the run workers share one machine (Kubernetes deployments use the
K8sRunLauncher's own health check instead).

Run monitoring judges a STARTING run only by `start_timeout_seconds`, so a run killed while it was
being launched would hold its place (and a sensor's backpressure) for minutes. `fail_dead_launches`
lets a caller that waits on such runs (the Kafka sensor) fail them at once when their worker is
gone, or after `LAUNCH_GRACE_SECONDS` when no worker was ever started.

`free_dead_holders` does the same for a pool's slots without a daemon: the code location runs its
steps in process, so a hard crash (kill -9, `os._exit`) takes the whole run with its claimed slot,
and a CLI run (`dagster job execute`, `dagster asset materialize`) on an instance with no daemon
would wait for that slot forever. Warehouse writers call it before they claim the slot.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

# Dagster exports no public path to the health-check types a run launcher must return (custom
# launchers are a documented extension point; these two live beside RunLauncher itself).
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

# Engine events whose `pid` metadata is the run worker's own process.
_RUN_WORKER_MESSAGES = (
    "Started process for run (pid:",
    "Executing steps using multiprocess executor: parent process (pid:",
    "Executing steps in process (pid:",
)
# A process that started this long after its run worker's event cannot be that worker.
_PID_REUSE_SLACK_SECONDS = 2.0
# The tag Dagster puts on a failed run that its run retries will re-run (dagster/tags.py).
WILL_RETRY_TAG = "dagster/will_retry"
# The code server reports a launched worker's pid within a second; a STARTING run still without
# one after this long lost its launch (killed with the daemon or the code server).
LAUNCH_GRACE_SECONDS = 30.0


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The run worker's pid and the time its engine event was written, if it has said so."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, ascending=False, limit=1000
    ).records
    for record in records:
        entry = record.event_log_entry
        event = entry.dagster_event
        text = (event.message if event is not None else None) or entry.user_message or ""
        if event is None or not text.startswith(_RUN_WORKER_MESSAGES):
            continue
        data = event.engine_event_data
        pid = data.metadata.get("pid") if data is not None else None
        if pid is not None and str(pid.value).isdigit():
            return int(str(pid.value)), entry.timestamp
    return None


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def process_alive(pid: int, not_started_after: float) -> bool:
    """Whether `pid` is a live (not zombie) process that started by `not_started_after`."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.parent.parent.joinpath("self").exists():  # no procfs: existence only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        # The command name (field 2) may hold spaces and parentheses: split after its last ")".
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state, start_ticks = fields[0], int(fields[19])
    if state in ("Z", "X"):
        return False
    started = _boot_time() + start_ticks / os.sysconf("SC_CLK_TCK")
    return started <= not_started_after + _PID_REUSE_SLACK_SECONDS


def _worker_health(found: tuple[int, float] | None) -> CheckRunHealthResult:
    """RUNNING while the reported worker lives (or none has reported yet), else FAILED."""
    if found is None:  # not said yet (just starting): only a worker that said so is judged
        return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker pid not reported yet")
    pid, reported_at = found
    if process_alive(pid, reported_at):
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is alive")
    return CheckRunHealthResult(
        WorkerStatus.FAILED,
        f"run worker process {pid} is gone (killed, or died with its daemon or code "
        f"server); checked at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
    )


class LocalRunLauncher(dg.DefaultRunLauncher):
    """DefaultRunLauncher whose run workers run monitoring can check (one machine)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        health = _worker_health(run_worker_pid(self._instance, run.run_id))
        if health.status == WorkerStatus.FAILED:
            self._tag_retry_before_failure(run)
        return health

    def _tag_retry_before_failure(self, run: dg.DagsterRun) -> None:
        """Tag a dead run `dagster/will_retry` before run monitoring marks it failed.

        Dagster adds that tag only after the run's status is FAILURE. A backfill judged in that
        gap sees a failed run with no retry coming and ends COMPLETED_FAILED, and the run retry
        daemon then refuses to retry a run of a finished backfill. The decision is Dagster's own,
        taken early, so the backfill waits for the retry.
        """
        if not self._instance.run_retries_enabled:
            return
        # Dagster's retry rule (max retries, attempts so far) lives in a private module.
        from dagster._core.execution.retries import auto_reexecution_should_retry_run

        failed = run.with_status(dg.DagsterRunStatus.FAILURE)
        if auto_reexecution_should_retry_run(self._instance, failed, None):
            self._instance.add_run_tags(run.run_id, {WILL_RETRY_TAG: "true"})

    def get_run_worker_debug_info(
        self, run: dg.DagsterRun, include_container_logs: bool | None = True
    ) -> str | None:
        found = run_worker_pid(self._instance, run.run_id)
        return f"run worker pid: {found[0]}" if found else "run worker pid: not reported"

    def fail_dead_launches(
        self, runs: Sequence[dg.DagsterRun], grace_seconds: float = LAUNCH_GRACE_SECONDS
    ) -> list[str]:
        """Mark failed each STARTING run whose worker died, or never started within
        `grace_seconds` of its launch; their ids (whoever waits on them then redoes the work)."""
        failed = []
        for run in runs:
            if run.status != dg.DagsterRunStatus.STARTING:
                continue
            reason: str | None  # Dagster types a health message as optional
            found = run_worker_pid(self._instance, run.run_id)
            if found is None:
                launched = self._instance.get_run_stats(run.run_id).launch_time
                if launched is None or time.time() - launched < grace_seconds:
                    continue
                reason = f"no run worker started within {grace_seconds:.0f}s of launch"
            else:
                health = _worker_health(found)
                if health.status != WorkerStatus.FAILED:
                    continue
                reason = health.msg
            self._instance.report_run_failed(run, f"Run lost while starting: {reason}")
            failed.append(run.run_id)
        return failed

    def free_dead_holders(self, pool: str) -> list[str]:
        """Free the slots of `pool` held by runs that ended, or whose worker is gone (those are
        marked failed first, as run monitoring would); the ids of the runs freed."""
        holders = {
            s.run_id
            for s in self._instance.event_log_storage.get_concurrency_info(pool).claimed_slots
        }
        freed = []
        for run_id in sorted(holders):
            run = self._instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:
                if run.status not in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING):
                    continue
                health = _worker_health(run_worker_pid(self._instance, run_id))
                if health.status != WorkerStatus.FAILED:
                    continue
                self._instance.report_run_failed(run, f"Run worker lost: {health.msg}")
            self._instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            freed.append(run_id)
        return freed
