"""`make dev` after a demo, in a real terminal (a pseudo-terminal), as a person runs it.

One session serves three promises of the README: start-up prints none of the warnings we could
avoid; on the state an earlier demo left (stream ledger, Spark checkpoint, runs in the instance)
it opens with no failed run and no sensor stuck on offsets of the earlier in-memory broker; and
Ctrl-C (the ^C character typed into the terminal, which the kernel turns into SIGINT for the
foreground process group) stops every process it started: webserver, daemon, code server and
broker.

The earlier demo is a small one, to keep this cheap: the demo's Kafka step (events with poison,
the real sensor, micro-batch runs through Dagster) and the windows asset's first step (recording
the topic id its checkpoint belongs to) under a broker of its own that is gone before `make dev`
starts. The ingestion and dbt steps leave no broker-bound state, so they are left out.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from data_platform.kafka.local_broker import free_port
from data_platform_tests.cli.test_broker_lifetime import alive, listening
from data_platform_tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.ui, pytest.mark.kafka, pytest.mark.timeout(900)]

EARLIER_DEMO = """
from data_platform.cli import stream_demo
from data_platform.cli.produce_orders import produce_orders
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.windows import topic_guard
from data_platform.streaming.windows.assets import QUERY_NAME
from data_platform.streaming.windows.spark_resource import SparkResource

kafka = KafkaResource()
produce_orders(kafka, 300, invalid_rate=0.05, seed=1)
assert stream_demo.tick_and_run(kafka) >= 1
checkpoint = SparkResource().checkpoint_location(QUERY_NAME)
topic_guard.guard(kafka, WarehouseResource(), checkpoint, "fail")
"""
AVOIDABLE_WARNINGS = [
    "Found a dagster instance configuration value (dagster.yaml) in the current folder",
    "BetaWarning",
    "is superseded",  # `dagster dev`'s "Use 'dg dev' instead"
]
STALE_SENSOR = "ahead of the broker"
LOCATION = {"repositoryLocationName": "data_platform", "repositoryName": "__repository__"}
RUNS = "{ runsOrError { ... on Runs { results { runId jobName status } } } }"
TICKS = """query ($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor {
  sensorState { ticks(limit: 20) { status skipReason error { message } } } } } }"""
ACTIVE = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}
SHUTDOWN_BOUND_S = 60


def wait_for(check: Callable[[], Any], timeout: float, what: str, log: Callable[[], str]) -> Any:
    """Poll until `check` returns something truthy; fail with the session's output if never."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(2)
    raise AssertionError(f"{what}: not within {timeout:.0f}s\n{log()[-6000:]}")


class TerminalSession:
    """`make dev` as the foreground job of its own pseudo-terminal."""

    def __init__(self, env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: session leader with the pty as its controlling terminal
            os.chdir(REPO_ROOT)
            os.execvpe("make", ["make", "dev"], env)
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # the terminal closed: every process holding it is gone
                return
            if not data:
                return
            self.chunks.append(data)

    def output(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")

    def interrupt(self) -> None:
        """Type ^C: the terminal's line discipline sends SIGINT to the foreground group."""
        os.write(self.fd, b"\x03")

    def processes(self) -> list[int]:
        """Live (not zombie) processes of this terminal's session."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == self.pid and fields[0] != "Z":  # session id, state
                found.append(int(stat.parent.name))
        return found

    def close(self) -> None:
        for pid in self.processes():  # only after a failure: ^C has stopped them otherwise
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        os.close(self.fd)


class DevSession:
    def __init__(self, terminal: TerminalSession, ui_port: int, broker_port: int) -> None:
        self.terminal, self.ui_port, self.broker_port = terminal, ui_port, broker_port
        self.url = f"http://127.0.0.1:{ui_port}"

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(f"{self.url}/graphql", timeout=60,
                                 json={"query": query, "variables": variables or {}})  # fmt: skip
        response.raise_for_status()
        return response.json()["data"]

    def answers(self) -> bool:
        try:
            return bool(self.runs() is not None)
        except requests.RequestException:  # "Serving ..." is logged just before it listens
            return False

    def runs(self) -> list[dict[str, str]]:
        return self.graphql(RUNS)["runsOrError"]["results"]

    def ticks(self, sensor: str) -> list[dict[str, Any]]:
        found = self.graphql(TICKS, {"s": {**LOCATION, "sensorName": sensor}})["sensorOrError"]
        return found["sensorState"]["ticks"]


def build_earlier_demo(env: dict[str, str]) -> None:
    cli = Path(sys.executable).with_name("data-platform")
    command = [str(cli), "broker", "--port", "0", "--", sys.executable, "-c", EARLIER_DEMO]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=600, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevSession]:
    root = tmp_path_factory.mktemp("make_dev")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    dropped = ("ORDERS_API_URL", "DATA_PLATFORM_FAULTS", "DAGSTER_IS_DEV_CLI", "MAKEFLAGS",
               "KAFKA_BOOTSTRAP_SERVERS", "DATA_PLATFORM_WAREHOUSE", "MFLAGS")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(DAGSTER_HOME=str(home), DATA_PLATFORM_STATE_DIR=str(root / "state"))
    build_earlier_demo(env)
    ui_port, broker_port = free_port(), free_port()
    env.update(DAGSTER_PORT=str(ui_port), KAFKA_PORT=str(broker_port), TERM="dumb")
    terminal = TerminalSession(env)
    session = DevSession(terminal, ui_port, broker_port)
    try:
        wait_for(lambda: "Serving dagster-webserver" in terminal.output(), 300,
                 "the webserver serving", terminal.output)  # fmt: skip
        wait_for(session.answers, 120, "GraphQL answering", terminal.output)
        yield session
    finally:
        (root / "make_dev.log").write_text(terminal.output())  # kept for a failure's reader
        terminal.close()


def test_start_up_shows_no_avoidable_warning(dev: DevSession) -> None:
    start_up = dev.terminal.output().split("Serving dagster-webserver")[0]
    assert [w for w in AVOIDABLE_WARNINGS if w in start_up] == [], start_up
    # What it did about the earlier broker's state is said once, before Dagster starts.
    assert start_up.count("fresh in-memory broker") == 1, start_up


def test_after_a_demo_no_run_fails_and_no_sensor_is_stuck(dev: DevSession) -> None:
    def windows_run_done() -> bool:
        runs = dev.runs()
        windows = [r for r in runs if r["jobName"] == "order_windows_job"]
        return bool(windows) and not any(r["status"] in ACTIVE for r in runs)

    # The earlier demo's orders_events batches make the windows sensor request a run at once.
    wait_for(windows_run_done, 600, "the window run after start-up", dev.terminal.output)

    def two_ticks_newest_finished() -> list[dict[str, Any]] | None:
        # The daemon may be evaluating a tick right now (status STARTED); judge the state
        # between two ticks, so an in-flight tick is not mistaken for a stuck one.
        ticks: list[dict[str, Any]] = dev.ticks("orders_kafka_sensor")
        return ticks if len(ticks) >= 2 and ticks[0]["status"] != "STARTED" else None

    ticks = wait_for(two_ticks_newest_finished, 120, "two finished Kafka sensor ticks",
                     dev.terminal.output)  # fmt: skip
    failed = [r for r in dev.runs() if r["status"] == "FAILURE"]
    assert failed == [], dev.terminal.output()[-6000:]
    assert [t for t in ticks if STALE_SENSOR in (t["skipReason"] or "")] == [], ticks
    assert all(t["status"] in ("SKIPPED", "SUCCESS") for t in ticks), ticks
    assert "orders: no new records" in ticks[0]["skipReason"], ticks


def test_ctrl_c_stops_every_process_it_started(dev: DevSession) -> None:
    started = dev.terminal.processes()
    assert len(started) >= 5, started  # make, broker wrapper, dg dev, webserver, daemon, ...
    assert listening(dev.broker_port) and listening(dev.ui_port)
    dev.terminal.interrupt()
    wait_for(
        lambda: not dev.terminal.processes() and not listening(dev.broker_port),
        SHUTDOWN_BOUND_S,
        f"every process gone after ^C (left: {dev.terminal.processes()})",
        dev.terminal.output,
    )
    assert not [pid for pid in started if alive(pid)]
    assert not listening(dev.ui_port)
    assert re.search(r"Dagster services shut down", dev.terminal.output())
