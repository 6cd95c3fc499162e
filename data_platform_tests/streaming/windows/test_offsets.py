import pytest

from data_platform.streaming.windows import offsets as wo


def test_starting_offsets_keywords_and_json() -> None:
    assert wo.parse_starting_offsets("earliest") == "earliest"
    assert wo.parse_starting_offsets(" latest ") == "latest"
    assert wo.parse_starting_offsets('{"orders": {"0": 5, "1": -2}}') == {
        "orders": {"0": 5, "1": -2}
    }


@pytest.mark.parametrize(
    "spec", ["newest", '{"orders": 5}', '{"orders": {"x": 1}}', '{"orders": {"0": -3}}']
)
def test_starting_offsets_rejects_with_the_option_named(spec: str) -> None:
    with pytest.raises(ValueError, match="startingOffsets"):
        wo.parse_starting_offsets(spec)


def test_cap_is_shared_by_backlog_and_exact() -> None:
    start = {"t": {"0": 0, "1": 10, "2": 5}}
    latest = {"t": {"0": 90, "1": 20, "2": 5}}
    end = wo.cap_offsets(start, latest, 50)
    assert wo.count_records(start, end) == 50
    assert end["t"]["2"] == 5 and end["t"]["0"] > end["t"]["1"] - 10
    assert wo.cap_offsets(start, latest, None) == latest
    assert wo.cap_offsets(start, latest, 1000) == latest


def test_cap_advances_every_partition_and_drains_in_steps() -> None:
    start = {"t": {"0": 0, "1": 0}}
    latest = {"t": {"0": 1000, "1": 1}}
    seen = 0
    while wo.count_records(start, latest):
        end = wo.cap_offsets(start, latest, 7)
        step = wo.count_records(start, end)
        assert 0 < step <= 7
        assert all(end["t"][p] <= latest["t"][p] for p in end["t"])
        seen += step
        start = end
    assert seen == 1001


def test_ranges_are_half_open_and_new_partitions_start_at_earliest() -> None:
    ranges = wo.offset_ranges({"t": {"0": 3}}, {"t": {"0": 3, "1": 9}}, earliest={"t": {"1": 4}})
    assert ranges == [wo.OffsetRange("t", 1, 4, 9)]
    assert ranges[0].size == 5


def test_moving_backwards_fails_like_fail_on_data_loss() -> None:
    wo.check_not_behind({"t": {"0": 5}}, {"t": {"0": 5}})
    with pytest.raises(RuntimeError, match=r"t-0: the checkpoint is at offset 9 .* ends at 2"):
        wo.check_not_behind({"t": {"0": 9}}, {"t": {"0": 2}})
