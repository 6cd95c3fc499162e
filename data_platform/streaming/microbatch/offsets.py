"""Offset-range planning for Kafka micro-batches: pure functions, no broker, no Dagster.

A batch is a set of half-open ranges `[start, end)`, one per partition with records to read.
The sensor plans batches from where processing stopped; the ledger of loaded ranges in the
warehouse is the truth, the sensor cursor only remembers what was already requested.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from data_platform.kafka.ranges import PartitionRange, format_ranges


def plan_batch(
    starts: dict[int, int], highwaters: dict[int, int], max_records: int
) -> list[PartitionRange]:
    """The next contiguous range per partition, at most `max_records` in total.

    The cap is shared fairly: each round gives every partition with a backlog an equal slice,
    so one hot partition cannot starve the others.
    """
    if max_records < 1:
        raise ValueError("max_records must be at least 1")
    backlog = {p: max(0, highwaters[p] - starts.get(p, 0)) for p in highwaters}
    take = dict.fromkeys(backlog, 0)
    budget = max_records
    while budget > 0:
        waiting = [p for p in sorted(backlog) if backlog[p] > take[p]]
        if not waiting:
            break
        share = max(1, budget // len(waiting))
        for p in waiting:
            grant = min(share, backlog[p] - take[p], budget)
            take[p] += grant
            budget -= grant
            if budget == 0:
                break
    return [
        PartitionRange(p, starts.get(p, 0), starts.get(p, 0) + take[p])
        for p in sorted(take)
        if take[p] > 0
    ]


def run_key(topic: str, ranges: list[PartitionRange], attempt: int = 0) -> str:
    """Topic plus every partition's range; a re-planned (retried) batch gets an attempt suffix,
    because Dagster never launches a second run for a run key it has already seen."""
    key = f"{topic} {format_ranges(ranges)}"
    return f"{key} attempt={attempt}" if attempt else key


def lag(next_offsets: dict[int, int], highwaters: dict[int, int]) -> dict[int, int]:
    return {p: max(0, hw - next_offsets.get(p, 0)) for p, hw in sorted(highwaters.items())}


def contiguous_ends(ledger: list[tuple[int, int, int]]) -> dict[int, int]:
    """Per partition, the end of the gap-free run of ledger ranges from the first one.

    `ledger` rows are (partition, start, end). Processing resumes here: a range loaded after a
    gap (never expected with one batch in flight) does not let the gap be skipped.
    """
    ends: dict[int, int] = {}
    for partition, start, end in sorted(ledger):
        if partition not in ends:
            ends[partition] = end
        elif start <= ends[partition]:
            ends[partition] = max(ends[partition], end)
    return ends


def ledger_problems(ledger: list[tuple[int, int, int]]) -> list[str]:
    """Gaps and overlaps between consecutive ledger ranges of each partition."""
    problems: list[str] = []
    previous: dict[int, tuple[int, int]] = {}
    for partition, start, end in sorted(ledger):
        if partition in previous:
            prev_start, prev_end = previous[partition]
            if start > prev_end:
                problems.append(f"partition {partition}: gap [{prev_end},{start})")
            elif start < prev_end:
                problems.append(
                    f"partition {partition}: [{start},{end}) overlaps [{prev_start},{prev_end})"
                )
        previous[partition] = (start, end)
    return problems


@dataclass
class SensorCursor:
    """What the sensor already requested: next offset per partition, the last run key, and
    the batch (topic and ranges) and attempt it was for, so a re-plan is told by comparison."""

    topic: str
    next_offsets: dict[int, int] = field(default_factory=dict)
    last_run_key: str | None = None
    attempt: int = 0
    last_batch: str | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["next_offsets"] = {str(p): o for p, o in self.next_offsets.items()}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None, topic: str) -> SensorCursor:
        """The stored cursor, or a fresh one when absent, unreadable or for another topic."""
        if not text:
            return cls(topic)
        try:
            data = json.loads(text)
            cursor = cls(
                topic=data["topic"],
                next_offsets={int(p): int(o) for p, o in data.get("next_offsets", {}).items()},
                last_run_key=data.get("last_run_key"),
                attempt=int(data.get("attempt", 0)),
                last_batch=data.get("last_batch"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls(topic)
        return cursor if cursor.topic == topic else cls(topic)
