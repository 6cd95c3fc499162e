"""Named fault-injection points, armed through the environment so crash tests reach subprocesses.

`DATA_PLATFORM_FAULTS` holds comma-separated point names; a name suffixed with `:exit` kills the
process outright (a hard crash with no cleanup) instead of raising; `:hang` stops there until the
process is killed from outside (a test kills the daemon and its runs mid-step that way). With
`DATA_PLATFORM_FAULTS_ONCE` set to a path prefix, each point fires once across all processes
(the first to reach it creates `<prefix>.<point>`), so a re-run after the crash goes through.
"""

from __future__ import annotations

import os
import time

FAULTS_ENV = "DATA_PLATFORM_FAULTS"
ONCE_ENV = "DATA_PLATFORM_FAULTS_ONCE"


class InjectedFault(RuntimeError):
    """Raised at an armed fault point; only ever seen in tests."""


def fault_point(name: str) -> None:
    """Raise (or exit) here when the test harness armed this point."""
    armed = os.environ.get(FAULTS_ENV, "")
    if not armed:
        return
    for entry in armed.split(","):
        point, _, mode = entry.strip().partition(":")
        if point == name and _first_time(name):
            if mode == "exit":
                os._exit(77)
            if mode == "hang":
                while True:
                    time.sleep(3600)
            raise InjectedFault(f"injected fault at {name!r}")


def _first_time(name: str) -> bool:
    """True unless one-shot faults are on and some process already fired this point."""
    prefix = os.environ.get(ONCE_ENV)
    if not prefix:
        return True
    try:
        os.close(os.open(f"{prefix}.{name}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True
