"""A hard crash (process killed, no cleanup) of a real `dagster job execute` run right after the
warehouse commit: nothing doubled on the re-run, and the group offset catches up."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_platform.lib.faults import FAULTS_ENV
from data_platform_tests.streaming.microbatch.test_exactly_once import committed, ranges_of
from data_platform_tests.streaming.microbatch.test_microbatch import produce, table_count

pytestmark = pytest.mark.kafka


def _execute(run_config: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "dagster",
        "job",
        "execute",
        "-m",
        "data_platform.definitions",
        "-j",
        "orders_microbatch_job",
        "-c",
        str(run_config),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_hard_crash_after_warehouse_commit(
    kafka, harness_factory, warehouse, dagster_home, tmp_path
) -> None:
    sent = produce(kafka, 300, invalid_rate=0.05)
    (request,) = harness_factory().tick().run_requests
    run_config = tmp_path / "run_config.json"
    run_config.write_text(json.dumps(request.run_config))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "KAFKA_BOOTSTRAP_SERVERS": kafka.resolved_bootstrap_servers(),
    }
    crashed = _execute(run_config, {**env, FAULTS_ENV: "microbatch.after_warehouse_commit:exit"})
    assert crashed.returncode != 0
    assert table_count(warehouse, "stream.orders_events") + table_count(
        warehouse, "stream.orders_dlq"
    ) == len(sent)
    # The real definitions use the default consumer group.
    default_group = kafka.model_copy(update={"consumer_group": "data-platform-orders"})
    assert set(committed(default_group).values()) == {None}
    rerun = _execute(run_config, env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert table_count(warehouse, "stream.orders_events") == 285
    assert table_count(warehouse, "stream.orders_dlq") == 15
    ends = {p: end for p, (_, end) in ranges_of(request).items()}
    assert committed(default_group) == {p: ends.get(p) for p in (0, 1, 2)}
