"""Hard crashes (process killed, no cleanup) of a real `dagster job execute` run: right after the
warehouse commit (nothing doubled on the re-run, the group offset catches up) and in mid-batch
(nothing written, the range loads once on the re-plan)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_platform.faults import FAULTS_ENV
from data_platform_tests.streaming.microbatch.test_exactly_once import committed, ranges_of
from data_platform_tests.streaming.microbatch.test_microbatch import produce, table_count

pytestmark = pytest.mark.kafka


class CliRun:
    """The request's run as a real `dagster job execute` process (its own instance)."""

    def __init__(self, request, kafka, dagster_home: Path, tmp_path: Path) -> None:
        self.run_config = tmp_path / "run_config.json"
        self.run_config.write_text(json.dumps(request.run_config))
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(dagster_home),
            "KAFKA_BOOTSTRAP_SERVERS": kafka.resolved_bootstrap_servers(),
        }

    def execute(self, fault: str | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "dagster", "job", "execute", "-m",
                   "data_platform.definitions", "-j", "orders_microbatch_job",
                   "-c", str(self.run_config)]  # fmt: skip
        env = {**self.env, FAULTS_ENV: fault} if fault else self.env
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_hard_crash_after_warehouse_commit(
    kafka, harness_factory, warehouse, dagster_home, tmp_path
) -> None:
    sent = produce(kafka, 300, invalid_rate=0.05)
    (request,) = harness_factory().tick().run_requests
    run = CliRun(request, kafka, dagster_home, tmp_path)
    crashed = run.execute(fault="microbatch.after_warehouse_commit:exit")
    assert crashed.returncode != 0
    assert table_count(warehouse, "stream.orders_events") + table_count(
        warehouse, "stream.orders_dlq"
    ) == len(sent)
    # The real definitions use the default consumer group.
    default_group = kafka.model_copy(update={"consumer_group": "data-platform-orders"})
    assert set(committed(default_group).values()) == {None}
    rerun = run.execute()
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert table_count(warehouse, "stream.orders_events") == 285
    assert table_count(warehouse, "stream.orders_dlq") == 15
    ends = {p: end for p, (_, end) in ranges_of(request).items()}
    assert committed(default_group) == {p: ends.get(p) for p in (0, 1, 2)}


def test_hard_crash_in_the_middle_of_a_batch(
    kafka, harness_factory, warehouse, dagster_home, tmp_path
) -> None:
    """Killed after 20k events went into the open transaction: DuckDB discards them on the next
    open, the sensor plans the same range again and it loads exactly once."""
    sent = produce(kafka, 25_000, invalid_rate=0.01, seed=3)
    harness = harness_factory()
    (request,) = harness.tick().run_requests
    crashed = CliRun(request, kafka, dagster_home, tmp_path).execute(
        fault="microbatch.before_last_insert:exit"
    )
    assert crashed.returncode != 0
    assert table_count(warehouse, "stream.orders_events") == 0
    assert table_count(warehouse, "stream.kafka_offsets") == 0
    (retry,) = harness.tick().run_requests  # the failed run is not in this instance: re-planned
    assert ranges_of(retry) == ranges_of(request)
    assert harness.execute(retry).success
    assert table_count(warehouse, "stream.orders_events") == 24_750
    assert table_count(warehouse, "stream.orders_dlq") == 250
    with warehouse.connect(read_only=True) as conn:
        distinct = conn.execute(
            'SELECT COUNT(DISTINCT ("partition", "offset")) FROM stream.orders_events'
        ).fetchone()[0]
    assert distinct == 24_750 and len(sent) == 25_000
