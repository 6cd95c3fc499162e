"""Strict parsing of daily partition keys: refuse anything but a real YYYY-MM-DD date."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InvalidPartitionKey(ValueError):
    """A partition key that is not a calendar date; raised before any SQL runs."""


def parse_day(key: str) -> date:
    """Parse a daily partition key, naming the key and the expected format on failure."""
    if not isinstance(key, str) or not _DAY.match(key):
        raise InvalidPartitionKey(
            f"partition key {key!r} is not a date: expected YYYY-MM-DD (e.g. 2024-01-15)"
        )
    try:
        return date.fromisoformat(key)
    except ValueError as exc:
        raise InvalidPartitionKey(f"partition key {key!r} is not a calendar date: {exc}") from exc


def days_between(first: date, last: date) -> Iterator[date]:
    """Every day from `first` to `last`, both included."""
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)
