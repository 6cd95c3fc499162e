"""Fail fast on an unreachable broker: a TCP connect before any client call that could wait on
metadata, and the one exception every Kafka role raises for it."""

from __future__ import annotations

import socket


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached, or did not answer, within the time limit."""


def check_reachable(bootstrap_servers: list[str], timeout_s: float) -> None:
    """Fail fast (TCP connect) before any client call that might block on metadata."""
    errors = []
    for server in bootstrap_servers:
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "localhost", int(port)), timeout=timeout_s):
                return
        except (OSError, ValueError) as exc:
            errors.append(f"{server}: {exc}")
    raise BrokerUnavailable("no bootstrap server reachable (" + "; ".join(errors) + ")")
