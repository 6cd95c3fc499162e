"""Offset ranges: the half-open `[start, end)` of one partition that a micro-batch or a Spark task
reads. They live with the Kafka client, the lowest layer that needs them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class PartitionRange:
    partition: int
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.partition < 0 or self.start < 0 or self.end < self.start:
            raise ValueError(
                f"invalid range for partition {self.partition}: [{self.start}, {self.end})"
            )

    @property
    def size(self) -> int:
        return self.end - self.start


def format_ranges(ranges: list[PartitionRange]) -> str:
    """Compact, stable text of a batch, e.g. `0:[0,100) 1:[20,50)` (tags, keys, logs)."""
    return " ".join(f"{r.partition}:[{r.start},{r.end})" for r in sorted(ranges))
