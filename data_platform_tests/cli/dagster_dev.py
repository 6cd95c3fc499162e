"""A real `dagster dev` (webserver + daemon) for UI tests: own process group, temp state, and a
GraphQL client for the API the UI itself uses."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import requests

from data_platform.kafka.local_broker import free_port
from data_platform_tests.conftest import REPO_ROOT

LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


class GraphQLError(AssertionError):
    pass


class DagsterDev:
    """`dagster dev -m data_platform.definitions` on a free loopback port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = root / "dagster_home"
        self.log_path = root / "dagster_dev.log"
        # Nothing listens here unless a test starts a broker on it (the walkthrough's DLQ step).
        self.kafka_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        state = self.root / "state"
        dropped = ("ORDERS_API_URL", "DATA_PLATFORM_FAULTS", "DAGSTER_IS_DEV_CLI")
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        env.update(
            DAGSTER_HOME=str(self.home),
            DATA_PLATFORM_STATE_DIR=str(state),
            DATA_PLATFORM_WAREHOUSE=str(state / "warehouse.duckdb"),
            # The Kafka sensor runs by default: a closed local port makes it skip at once.
            KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{self.kafka_port}",
            PYSPARK_PYTHON=sys.executable,
            # As in an activated venv: dagster-dbt's prepare_if_dev looks `dbt` up on PATH.
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        return env

    def start(self, timeout: float = 240) -> None:
        self.home.mkdir(parents=True)
        shutil.copy(REPO_ROOT / "dagster.yaml", self.home / "dagster.yaml")
        dagster = Path(sys.executable).with_name("dagster")
        command = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(self.port),
                   "-m", "data_platform.definitions"]  # fmt: skip
        with self.log_path.open("wb") as log:
            # start_new_session: its own process group, so stop() reaches the webserver, the
            # daemon, the code server and every run they launched.
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_until_loaded(timeout)

    def wait_until_loaded(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited ({self.process.returncode}):\n{self.log()}")
            try:
                entries = self.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"]
                for entry in entries:
                    error = entry["locationOrLoadError"] or {}
                    if error.get("__typename") == "PythonError":
                        raise RuntimeError(f"code location failed to load: {error['message']}")
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    return
                last_error = str(entries)
            except (requests.RequestException, GraphQLError) as exc:
                last_error = str(exc)
            time.sleep(1)
        raise TimeoutError(
            f"dagster dev not serving after {timeout}s ({last_error}):\n{self.log()}"
        )

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(f"{self.url}/graphql", timeout=60,
                                 json={"query": query, "variables": variables or {}})  # fmt: skip
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        return body["data"]

    def log(self, tail: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""

    def stop(self) -> None:
        """Terminate the whole process group; kill it if it has not exited within 30 s."""
        if self.process is None or (self.process.poll() is not None and not self._group_alive()):
            return
        pgid = self.process.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self._group_alive():
            time.sleep(0.5)
            self.process.poll()
        if self._group_alive():
            os.killpg(pgid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def _group_alive(self) -> bool:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True


class RestartableDagsterDev(DagsterDev):
    """DagsterDev that can be killed like a crashed host and started again on the same state."""

    def __init__(self, root: Path, extra_env: dict[str, str]) -> None:
        super().__init__(root)
        self.extra_env = dict(extra_env)

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.extra_env}

    def start(self, timeout: float = 300) -> None:
        if not self.home.exists():
            self.home.mkdir(parents=True)
            shutil.copy(REPO_ROOT / "dagster.yaml", self.home / "dagster.yaml")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        dagster = Path(sys.executable).with_name("dagster")
        command = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(self.port),
                   "-m", "data_platform.definitions"]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.wait_until_loaded(timeout)

    def kill_everything(self) -> None:
        """SIGKILL to the whole group: webserver, daemon, code servers and every run worker."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not self._group_alive(), "processes of the killed group survived SIGKILL"

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))
