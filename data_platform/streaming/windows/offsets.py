"""Kafka offset bookkeeping for the Spark `kafka_py` source: pure functions, no I/O.

Offsets follow the official Spark Kafka source's JSON shape, `{"topic": {"0": 42, "1": 7}}`:
per partition, the NEXT offset to read. A micro-batch reads exactly `[start, end)` per partition.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

Offsets = dict[str, dict[str, int]]

EARLIEST = -2  # the official source's sentinel values inside a startingOffsets JSON
LATEST = -1


@dataclass(frozen=True)
class OffsetRange:
    """Records `[start, end)` of one topic partition: one Spark input partition."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def parse_starting_offsets(spec: str) -> str | Offsets:
    """`earliest`, `latest`, or a JSON object of per-partition offsets (-2 earliest, -1 latest)."""
    text = spec.strip()
    if text in ("earliest", "latest"):
        return text
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"startingOffsets: expected 'earliest', 'latest' or JSON like "
            f'{{"orders": {{"0": 5}}}}, got {spec!r}'
        ) from exc
    if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
        raise ValueError(f"startingOffsets: expected a JSON object of objects, got {spec!r}")
    result: Offsets = {}
    for topic, partitions in parsed.items():
        result[topic] = {}
        for partition, offset in partitions.items():
            if not str(partition).isdigit() or not isinstance(offset, int) or offset < LATEST - 1:
                raise ValueError(
                    f"startingOffsets: topic {topic!r} partition {partition!r}: expected a "
                    f"partition number mapped to an offset >= -2, got {offset!r}"
                )
            result[topic][str(int(partition))] = offset
    return result


def normalize(offsets: Offsets) -> Offsets:
    """Partition keys as decimal strings, offsets as ints (what Spark journals as JSON)."""
    return {t: {str(int(p)): int(o) for p, o in ps.items()} for t, ps in offsets.items()}


def check_not_behind(start: Offsets, latest: Offsets) -> None:
    """Fail like the official source's `failOnDataLoss`: a partition's end moved backwards.

    That happens when a topic was deleted and re-created (or truncated): continuing would skip
    records silently, so the checkpoint must be reset deliberately instead.
    """
    for topic, partitions in start.items():
        for partition, offset in partitions.items():
            end = latest.get(topic, {}).get(partition)
            if end is not None and end < offset:
                raise RuntimeError(
                    f"Kafka {topic}-{partition}: the checkpoint is at offset {offset} but the "
                    f"partition now ends at {end} (topic re-created or truncated?). Records "
                    f"would be lost; reset the checkpoint or set failOnDataLoss=false."
                )


def cap_offsets(start: Offsets, latest: Offsets, max_records: int | None) -> Offsets:
    """End offsets for the next batch: all available, or at most `max_records` in total.

    The cap is shared among partitions in proportion to their backlog (like the official
    source); rounding remainders go to the partitions listed first, so the plan is deterministic
    and every non-empty backlog advances by at least one record per batch.
    """
    end = normalize(latest)
    lags = [
        (t, p, end[t][p] - start.get(t, {}).get(p, 0))
        for t in sorted(end)
        for p in sorted(end[t], key=int)
    ]
    total = sum(max(lag, 0) for _, _, lag in lags)
    if max_records is None or total <= max_records:
        return end
    budget = max_records
    shares: dict[tuple[str, str], int] = {}
    for t, p, lag in lags:
        share = min(max(lag, 0), max(1, (max(lag, 0) * max_records) // total))
        share = min(share, budget)
        shares[(t, p)] = share
        budget -= share
    for t, p, lag in lags:  # hand out what integer division left over
        if budget <= 0:
            break
        extra = min(max(lag, 0) - shares[(t, p)], budget)
        shares[(t, p)] += extra
        budget -= extra
    return {
        t: {p: start.get(t, {}).get(p, 0) + shares[(t, p)] for p in end[t]} for t in sorted(end)
    }


def offset_ranges(
    start: Offsets, end: Offsets, earliest: Offsets | None = None
) -> list[OffsetRange]:
    """Non-empty `[start, end)` ranges; a partition missing from `start` begins at `earliest`."""
    ranges = []
    for topic in sorted(end):
        for partition in sorted(end[topic], key=int):
            default = (earliest or {}).get(topic, {}).get(partition, 0)
            first = start.get(topic, {}).get(partition, default)
            last = end[topic][partition]
            if last > first:
                ranges.append(OffsetRange(topic, int(partition), first, last))
    return ranges


def count_records(start: Offsets, end: Offsets) -> int:
    return sum(r.size for r in offset_ranges(start, end))
