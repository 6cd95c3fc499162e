from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from data_platform import warehouse
from data_platform.faults import InjectedFault
from data_platform.streaming.windows import store as window_store

pytestmark = pytest.mark.both_backends


def windows(*rows: tuple[str, str, int, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["start", "customer_id", "order_count", "total_amount"])
    frame["window_start"] = pd.to_datetime(frame.pop("start"))
    frame["window_end"] = frame["window_start"] + pd.Timedelta(minutes=5)
    frame["total_amount"] = frame["total_amount"].map(Decimal)
    return frame


def table(path: Path) -> list[tuple]:
    with warehouse.connect(path) as conn:
        return conn.execute(
            "SELECT window_start, customer_id, order_count, total_amount "
            "FROM stream.order_window_aggregates ORDER BY 1, 2"
        ).fetchall()


def test_upsert_counts_new_events_and_a_replay_changes_nothing(warehouse_path: Path) -> None:
    with warehouse.connect(warehouse_path) as conn:
        first = window_store.apply_batch(
            conn, "q", 0, windows(("2024-03-01 12:00", "c1", 2, "15.50"))
        )
        second = window_store.apply_batch(
            conn, "q", 1,
            windows(("2024-03-01 12:00", "c1", 3, "16.50"), ("2024-03-01 12:05", "c2", 1, "2")),
        )  # fmt: skip
        before = conn.execute("SELECT * FROM stream.order_window_aggregates ORDER BY 1").fetchall()
        replay = window_store.apply_batch(
            conn, "q", 1, windows(("2024-03-01 12:00", "c1", 99, "99"))
        )
        after = conn.execute("SELECT * FROM stream.order_window_aggregates ORDER BY 1").fetchall()
    assert (first.applied, first.events_aggregated, first.windows_upserted) == (True, 2, 1)
    assert (second.events_aggregated, second.windows_upserted) == (2, 2)
    assert replay == window_store.WindowBatchOutcome(1, False, 2, 2)
    assert before == after
    assert table(warehouse_path) == [
        (datetime(2024, 3, 1, 12, 0), "c1", 3, Decimal("16.50")),
        (datetime(2024, 3, 1, 12, 5), "c2", 1, Decimal("2.00")),
    ]


def test_fault_before_commit_leaves_neither_rows_nor_ledger(
    warehouse_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_PLATFORM_FAULTS", "windows.before_commit")
    with warehouse.connect(warehouse_path) as conn:
        with pytest.raises(InjectedFault):
            window_store.apply_batch(conn, "q", 0, windows(("2024-03-01 12:00", "c1", 1, "1")))
        assert window_store.ledger_rows(conn, "q") == {}
    assert table(warehouse_path) == []


def test_a_window_twice_in_one_batch_is_refused(warehouse_path: Path) -> None:
    frame = windows(("2024-03-01 12:00", "c1", 1, "1"), ("2024-03-01 12:00", "c1", 2, "2"))
    with warehouse.connect(warehouse_path) as conn, pytest.raises(ValueError, match="twice"):
        window_store.apply_batch(conn, "q", 0, frame)
