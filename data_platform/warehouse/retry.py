"""Whole-transaction retries of DuckLake commit conflicts, with bounded backoff.

Many processes write a DuckLake at once; two commits that touch the same table in ways it
cannot merge (one deleted rows the other inserted beside, two created the same schema) make the
later one fail at COMMIT. The transaction is then already over, so the only repair is to run it
again from the start on a fresh snapshot: the work is a function that opens, writes and commits.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import duckdb

LOG = logging.getLogger(__name__)
T = TypeVar("T")
_CONFLICT_MARKERS = ("transaction conflict", "failed to commit ducklake transaction", "conflict")


def is_commit_conflict(exc: BaseException) -> bool:
    """A DuckLake (or DuckDB) write-write conflict: retrying the whole transaction may succeed."""
    if not isinstance(exc, duckdb.TransactionException | duckdb.Error):
        return False
    text = str(exc).lower()
    return "conflict" in text and any(marker in text for marker in _CONFLICT_MARKERS)


@dataclass
class ConflictRetries:
    """How many conflicts one piece of work retried (reported in materialization metadata)."""

    count: int = 0


def retry_conflicts(
    work: Callable[[], T],
    what: str,
    stats: ConflictRetries | None = None,
    attempts: int = 8,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
    log: logging.Logger | None = None,
) -> T:
    """Run `work` (one whole transaction), again after a commit conflict, at most `attempts`
    times, sleeping a jittered, doubling delay capped at `max_delay` between tries."""
    log = log or LOG
    delay = base_delay
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except duckdb.Error as exc:
            if not is_commit_conflict(exc) or attempt == attempts:
                raise
            if stats is not None:
                stats.count += 1
            pause = min(max_delay, delay) * (0.5 + random.random())
            log.warning(
                "%s: commit conflict (attempt %d of %d), retrying in %.2fs: %s",
                what,
                attempt,
                attempts,
                pause,
                str(exc).splitlines()[0][:200],
            )
            time.sleep(pause)
            delay *= 2
    raise AssertionError("unreachable")


def rollback_quietly(conn: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK if a transaction is open: after a failed COMMIT it is already over, and
    DuckDB's 'no transaction is active' must not hide the error that ended it."""
    try:
        conn.rollback()
    except duckdb.TransactionException as exc:
        if "no transaction is active" not in str(exc).lower():
            raise
