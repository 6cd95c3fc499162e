"""Offset-range planning: caps, fairness, contiguity, run keys and the sensor cursor."""

import pytest

from data_platform.streaming.microbatch.offsets import (
    PartitionRange,
    SensorCursor,
    contiguous_ends,
    ledger_problems,
    plan_batch,
    run_key,
)


def test_plan_takes_everything_under_the_cap() -> None:
    ranges = plan_batch({0: 5, 1: 0}, {0: 10, 1: 3, 2: 0}, 100)
    assert ranges == [PartitionRange(0, 5, 10), PartitionRange(1, 0, 3)]


def test_plan_caps_fairly_across_partitions() -> None:
    ranges = plan_batch({0: 0, 1: 0, 2: 0}, {0: 1_000, 1: 10, 2: 1_000}, 100)
    assert sum(r.size for r in ranges) == 100
    sizes = {r.partition: r.size for r in ranges}
    assert sizes[1] == 10 and sizes[0] == 45 and sizes[2] == 45


def test_plan_nothing_when_caught_up() -> None:
    assert plan_batch({0: 7}, {0: 7}, 10) == []
    with pytest.raises(ValueError):
        plan_batch({}, {}, 0)


def test_invalid_range_rejected() -> None:
    with pytest.raises(ValueError, match="partition 0"):
        PartitionRange(0, 10, 5)


def test_contiguous_ends_stop_at_a_gap() -> None:
    ledger = [(0, 0, 10), (0, 10, 20), (0, 30, 40), (1, 0, 5)]
    assert contiguous_ends(ledger) == {0: 20, 1: 5}


def test_ledger_problems_find_gaps_and_overlaps() -> None:
    assert ledger_problems([(0, 0, 10), (0, 10, 20), (1, 0, 5)]) == []
    problems = ledger_problems([(0, 0, 10), (0, 15, 20), (1, 0, 5), (1, 3, 8)])
    assert problems == ["partition 0: gap [10,15)", "partition 1: [3,8) overlaps [0,5)"]


def test_run_key_names_topic_and_every_range() -> None:
    ranges = [PartitionRange(1, 20, 50), PartitionRange(0, 0, 100)]
    assert run_key("orders", ranges) == "orders 0:[0,100) 1:[20,50)"
    assert run_key("orders", ranges, attempt=2) == "orders 0:[0,100) 1:[20,50) attempt=2"


def test_cursor_round_trip_and_fallbacks() -> None:
    cursor = SensorCursor("orders", {0: 10, 2: 4}, "orders 0:[0,10)", 1)
    assert SensorCursor.from_json(cursor.to_json(), "orders") == cursor
    assert SensorCursor.from_json(cursor.to_json(), "other") == SensorCursor("other")
    assert SensorCursor.from_json("not json", "orders") == SensorCursor("orders")
    assert SensorCursor.from_json(None, "orders") == SensorCursor("orders")
