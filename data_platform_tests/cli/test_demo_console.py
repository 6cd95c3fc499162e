"""The demo's terminal output helpers: nothing wider than 100 columns, steps counted and timed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from data_platform.cli import demo_console
from data_platform.cli.demo import step_label


def test_tables_cut_their_last_column_to_fit() -> None:
    rows = [("not_json", 12, "x" * 200), ("tombstone", 3, "short")]
    lines = demo_console.table_lines(("error_code", "records", "example message"), rows)
    assert all(len(line) <= 100 for line in lines)
    assert lines[1].endswith("...") and lines[2].endswith("short")


def test_free_text_wraps_and_keeps_every_word(capsys: pytest.CaptureFixture[str]) -> None:
    path = "/very/long/" + "directory/" * 15 + "warehouse.duckdb"
    demo_console.say(f"The warehouse is one DuckDB file: {path}", "  ")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 1 and all(len(line) <= 100 for line in lines)
    assert "".join(line.strip() for line in lines).endswith(path.replace(" ", ""))


def test_steps_show_number_total_and_elapsed(capsys: pytest.CaptureFixture[str]) -> None:
    steps = demo_console.Steps(10)
    began = steps.begin(step_label("raw_orders,raw_customers", "--partition-range", "A...B"), True)
    steps.finish(began)
    steps.begin(
        step_label(
            "raw_users",
            "--config-json",
            '{"ops": {"raw_users": {"config": {"as_of": "2024-01-01"}}}}',
        )
    )
    steps.begin("Asset checks")
    first, users, second = capsys.readouterr().out.splitlines()
    assert users.endswith("] raw_users as_of=2024-01-01")
    assert first.startswith("[ 1/10  0:00] raw_orders,raw_customers A...B ...")
    assert " done in " in first and first.endswith(" s")
    assert second == "[ 3/10  0:00] Asset checks"


def test_stderr_goes_to_the_log_and_comes_back(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with demo_console.stderr_to(log) as err:
        print("dagster - INFO - noise", file=sys.__stderr__, flush=True)  # fd 2, as in the demo
        os.system("echo from-a-child-process >&2")
        err.write("")  # the real stderr stays writable
    text = log.read_text()
    assert "dagster - INFO - noise" in text and "from-a-child-process" in text
