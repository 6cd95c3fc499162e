"""The windows asset on a real Spark standalone cluster (master + worker from the pyspark wheel's
own `bin/spark-class`), writing to a DuckLake: `dagster asset materialize` in a subprocess (one
SparkSession per process: the tests' local session lives in this one), exact windows, and a
rerun from the checkpoint changes nothing."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyspark
import pytest

from data_platform import warehouse
from data_platform.cli.demo import materialize_command
from data_platform.kafka.local_broker import LocalBroker
from data_platform_tests.conftest import REPO_ROOT, query
from data_platform_tests.lake import LakeCatalogs, free_port
from data_platform_tests.streaming.windows.conftest import new_topic, produce
from data_platform_tests.streaming.windows.test_order_window_aggregates import FIRST, events, w

pytestmark = [pytest.mark.spark, pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture(scope="module")
def spark_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A master and a one-core worker, each in its own process group, SIGKILLed at the end."""
    home = Path(pyspark.__file__).parent
    logs = tmp_path_factory.mktemp("spark_cluster")
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(logs),
           "PYSPARK_PYTHON": sys.executable}  # fmt: skip
    port, ui, worker_ui = free_port(), free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    spark_class = str(home / "bin" / "spark-class")
    commands = [
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
         "--port", str(port), "--webui-port", str(ui)],
        [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--cores", "1",
         "--memory", "1g", "--webui-port", str(worker_ui), "--host", "127.0.0.1"],
    ]  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for i, command in enumerate(commands):
            log = (logs / f"{i}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
            if i == 0:
                _wait(lambda: _master_state(ui) is not None, "master", logs)
        _wait(lambda: (_master_state(ui) or {}).get("aliveworkers", 0) >= 1, "worker", logs)
        yield url, ui
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _master_state(ui: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


def _wait(ready, what: str, logs: Path) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        if time.monotonic() > deadline:
            text = "\n".join(p.read_text(errors="replace")[-1500:] for p in logs.glob("*.log"))
            raise RuntimeError(f"Spark {what} did not come up:\n{text}")
        time.sleep(1)


def test_windows_on_a_standalone_cluster_into_a_lake(
    spark_master: tuple[str, int],
    kafka_broker: LocalBroker,
    lake_catalogs: LakeCatalogs,
    tmp_path: Path,
) -> None:
    lake = lake_catalogs.new_lake(tmp_path / "lake")
    topic = new_topic(kafka_broker)
    produce(kafka_broker, topic, events(FIRST))
    config = {"resources": {
        "spark": {"config": {"master": spark_master[0], "checkpoint_root": str(tmp_path / "ckpt"),
                             "python_executable": sys.executable}},
        "kafka": {"config": {"bootstrap_servers": kafka_broker.bootstrap_servers,
                             "orders_topic": topic}},
    }}  # fmt: skip
    env = {**os.environ, **warehouse.warehouse_env(lake), "PYSPARK_PYTHON": sys.executable}
    command = materialize_command("order_window_aggregates", "--config-json", json.dumps(config))

    def run() -> None:
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                              timeout=500, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    sql = ("SELECT window_start, window_end, customer_id, order_count, total_amount, updated_at "
           "FROM stream.order_window_aggregates ORDER BY 1, 3")  # fmt: skip
    run()
    first = query(lake, sql)
    assert [r[:5] for r in first] == [
        (*w(0), "c1", 2, Decimal("15.50")), (*w(0), "c2", 1, Decimal("1.25")),
        (*w(5), "c1", 1, Decimal("2.00")), (*w(10), "c2", 1, Decimal("3.10")),
        (*w(30), "c1", 1, Decimal("4.00")),
    ]  # fmt: skip
    run()  # nothing new on the topic: the checkpoint and the batch ledger make it a no-op
    assert query(lake, sql) == first
    # Both runs were applications of the cluster, not local sessions.
    apps = (_master_state(spark_master[1]) or {}).get("completedapps", [])
    assert len(apps) == 2, apps
