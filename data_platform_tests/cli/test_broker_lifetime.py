"""The local broker dies with whatever started it, however that dies: `data-platform broker`
killed with SIGKILL takes its broker (and the command it wraps) along; with the kernel's
parent-death signal switched off, the watchdog alone still does."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_platform.kafka.local_broker import free_port

pytestmark = pytest.mark.kafka


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def wait_until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def read_until(process: subprocess.Popen, pattern: str, timeout: float = 60) -> re.Match:
    deadline = time.monotonic() + timeout
    seen = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r} in: {seen}")


def test_kill_9_of_data_platform_broker_takes_the_broker_and_its_command_along(tmp_path) -> None:
    marker = tmp_path / "child.pid"
    # The wrapped command records its pid, then idles for a minute.
    command = [sys.executable, "-c",
               f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); "
               "time.sleep(60)"]  # fmt: skip
    cli = Path(sys.executable).with_name("data-platform")
    env = {**os.environ, "DATA_PLATFORM_STATE_DIR": str(tmp_path / "state")}
    process = subprocess.Popen(
        [str(cli), "broker", "--port", "0", "--", *command],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        port = int(read_until(process, r"local Kafka broker on 127\.0\.0\.1:(\d+)").group(1))
        read_until(process, r"topics created")
        assert wait_until(marker.exists, 30) and listening(port)
        child = int(marker.read_text())
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        assert wait_until(lambda: not listening(port), 5), "the broker outlived its parent"
        assert wait_until(lambda: not alive(child), 5), "the wrapped command outlived its parent"
    finally:
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(ProcessLookupError):  # the wrapped command, if it survived
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.parametrize("die_with_parent", [True, False], ids=["prctl+watchdog", "watchdog"])
def test_a_broker_starter_killed_with_sigkill_leaves_no_broker(die_with_parent: bool) -> None:
    port = free_port()
    starter = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from data_platform.kafka.local_broker import LocalBroker\n"
         f"LocalBroker(port={port}, die_with_parent={die_with_parent}).start()\n"
         "print('up', flush=True)\n"
         "time.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        read_until(starter, r"^up")
        assert listening(port)
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait(timeout=10)
        assert wait_until(lambda: not listening(port), 5), "the broker outlived its starter"
    finally:
        if starter.poll() is None:
            starter.kill()
