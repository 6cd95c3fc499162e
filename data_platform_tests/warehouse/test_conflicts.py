"""DuckLake commit conflicts between writers are retried as whole transactions."""

from datetime import date
from pathlib import Path

import pytest

from data_platform import warehouse
from data_platform_tests.lake import LakeCatalogs

DAY_1, DAY_2 = date(2024, 1, 1), date(2024, 1, 2)
INSERT = """INSERT INTO raw.customers VALUES
    (?, 'name', 'segment', DATE '2020-01-01', ?, 'run', TIMESTAMP '2024-01-01')"""


def replace_day(conn, day: date, customer: str) -> None:
    conn.execute("DELETE FROM raw.customers WHERE partition_date = ?", [day])
    conn.execute(INSERT, [customer, day])


def test_a_conflicting_commit_is_retried_whole_and_counted(
    lake_catalogs: LakeCatalogs, tmp_path: Path
) -> None:
    """Writer A replaces day 1 while writer B replaces day 2 of the same table and commits
    first: A's COMMIT fails (DuckLake: insert beside another transaction's delete), the whole
    transaction runs again on the new snapshot, and both days end exact."""
    lake = lake_catalogs.new_lake(tmp_path / "data")
    stats = warehouse.ConflictRetries()
    attempts: list[int] = []
    with warehouse.connect(lake) as a, warehouse.connect(lake) as b:
        warehouse.ensure_raw_schema(a)
        with warehouse.transaction(a):
            a.execute(INSERT, ["old-1", DAY_1])

        def work() -> None:
            with warehouse.transaction(a):
                replace_day(a, DAY_1, "new-1")
                if not attempts:  # the other writer commits in between, once
                    with warehouse.transaction(b):
                        replace_day(b, DAY_2, "new-2")
                attempts.append(len(attempts))

        warehouse.retry_conflicts(work, "replace day 1", stats)
        rows = a.execute(
            "SELECT customer_id, partition_date FROM raw.customers ORDER BY 2"
        ).fetchall()
    assert stats.count == 1 and len(attempts) == 2
    assert rows == [("new-1", DAY_1), ("new-2", DAY_2)]


def test_other_errors_and_exhausted_retries_propagate(
    lake_catalogs: LakeCatalogs, tmp_path: Path
) -> None:
    lake = lake_catalogs.new_lake(tmp_path / "data")
    stats = warehouse.ConflictRetries()
    with warehouse.connect(lake) as a, warehouse.connect(lake) as b:
        warehouse.ensure_raw_schema(a)
        with warehouse.transaction(a):
            a.execute(INSERT, ["old-1", DAY_1])

        def always_conflicting() -> None:
            with warehouse.transaction(a):
                replace_day(a, DAY_1, "a")
                with warehouse.transaction(b):
                    replace_day(b, DAY_2, "b")

        with pytest.raises(Exception, match=r"(?i)conflict"):
            warehouse.retry_conflicts(
                always_conflicting, "always", stats, attempts=3, base_delay=0.01
            )
        assert stats.count == 2
        with pytest.raises(ZeroDivisionError):
            warehouse.retry_conflicts(lambda: 1 / 0, "not a conflict", stats)
        assert stats.count == 2
