import pytest

from data_platform.ingestion.dates import InvalidPartitionKey, days_between, parse_day


def test_parse_day_accepts_calendar_dates() -> None:
    assert parse_day("2024-02-29").isoformat() == "2024-02-29"


@pytest.mark.parametrize(
    "key",
    [
        "2024-1-5",
        "20240105",
        "2024-13-01",
        "2023-02-29",
        "",
        "2024-01-01 ",
        "2024-01-01'; DROP TABLE raw.orders; --",
        "2024-01-01' OR '1'='1",
    ],
)
def test_parse_day_refuses_anything_else(key: str) -> None:
    with pytest.raises(InvalidPartitionKey, match="partition key"):
        parse_day(key)


def test_days_between_is_inclusive() -> None:
    days = list(days_between(parse_day("2024-01-30"), parse_day("2024-02-02")))
    assert [d.isoformat() for d in days] == ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"]
