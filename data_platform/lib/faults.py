"""Named fault-injection points, armed through the environment so crash tests reach subprocesses.

`DATA_PLATFORM_FAULTS` holds comma-separated point names; a name suffixed with `:exit` kills the
process outright (a hard crash with no cleanup) instead of raising; `:hang` stops there until the
process is killed from outside (a test kills the daemon and its runs mid-step that way).
"""

from __future__ import annotations

import os
import time

FAULTS_ENV = "DATA_PLATFORM_FAULTS"


class InjectedFault(RuntimeError):
    """Raised at an armed fault point; only ever seen in tests."""


def fault_point(name: str) -> None:
    """Raise (or exit) here when the test harness armed this point."""
    armed = os.environ.get(FAULTS_ENV, "")
    if not armed:
        return
    for entry in armed.split(","):
        point, _, mode = entry.strip().partition(":")
        if point == name:
            if mode == "exit":
                os._exit(77)
            if mode == "hang":
                while True:
                    time.sleep(3600)
            raise InjectedFault(f"injected fault at {name!r}")
