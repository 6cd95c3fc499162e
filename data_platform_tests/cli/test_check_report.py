"""The pure report helper: what counts as blocking, and each rendering's shape."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from data_platform.cli import check_report
from data_platform.cli.check_report import CheckRow

WHEN = datetime(2024, 3, 2, 1, 0, tzinfo=timezone.utc)


def row(result: str, severity: str | None = None, **kw) -> CheckRow:
    return CheckRow(asset="a", check=f"{result}_{severity}", result=result, severity=severity,
                    evaluated_at=WHEN, **kw)  # fmt: skip


@pytest.mark.parametrize(
    ("result", "severity", "blocks"),
    [
        ("FAILED", "ERROR", True),
        ("FAILED", "WARN", False),
        ("PASSED", "ERROR", False),
        ("EXECUTION_FAILED", None, True),
        ("SKIPPED", None, False),
        ("IN_PROGRESS", None, False),
        ("NEVER_RUN", None, False),
    ],
)
def test_blocking_rule(result: str, severity: str | None, blocks: bool) -> None:
    assert row(result, severity).blocks is blocks
    assert (check_report.failing_error_checks([row(result, severity)]) != []) is blocks


def test_table_aligns_columns_and_shortens_long_metadata() -> None:
    rows = [row("PASSED", "ERROR", partition="2024-03-01", metadata={"failing_rows": 0}),
            row("FAILED", "WARN", metadata={"ids": list(range(100))})]  # fmt: skip
    text = check_report.render(rows, "table")
    lines = text.splitlines()
    assert lines[0].index("check") == lines[2].index("PASSED_ERROR")
    assert "failing_rows=0" in lines[2] and "2024-03-02 01:00:00 UTC" in lines[2]
    assert "ids=[0, 1, 2" in lines[3] and lines[3].endswith("...")
    assert lines[-1] == "2 checks: 1 passed, 1 failed; no ERROR-severity failures"


def test_markdown_escapes_pipes_and_bolds_blocking_rows() -> None:
    rows = [row("FAILED", "ERROR", metadata={"note": "a|b"})]
    text = check_report.render(rows, "markdown")
    assert (
        "| a | FAILED_ERROR |  | **FAILED** | ERROR | 2024-03-02 01:00:00 UTC | note=a\\|b |"
        in text
    )
    assert "ERROR-severity failures: a:FAILED_ERROR" in text


def test_json_is_machine_readable() -> None:
    document = json.loads(check_report.render([row("FAILED", "ERROR")], "json"))
    assert document["ok"] is False and document["failing_error_checks"] == 1
    assert document["checks"][0]["evaluated_at"] == "2024-03-02T01:00:00+00:00"


def test_unknown_format_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown report format 'xml'.*table, compact, json"):
        check_report.render([], "xml")


def test_table_drops_dbt_bookkeeping_and_keeps_rows_on_one_line() -> None:
    row = check_report.CheckRow(
        asset="fact_orders",
        check="unique_fact_orders_order_id",
        partition=None,
        result="FAILED",
        severity="ERROR",
        evaluated_at=None,
        metadata={
            "dagster_dbt/failed_row_count": 3,
            "invocation_id": "596ac100",
            "unique_id": "test.data_platform.unique_fact_orders_order_id",
            "Execution Duration": 0.03,
            "status": "fail",
            "sample_errors": "orders/0@1: bad\norders/0@2: worse",
        },
    )
    table = check_report.render_table([row])
    line = next(x for x in table.splitlines() if x.startswith("fact_orders"))
    assert "dagster_dbt/failed_row_count=3" in line
    assert "sample_errors=orders/0@1: bad orders/0@2: worse" in line
    for noise in ("invocation_id", "unique_id", "Execution Duration", "status="):
        assert noise not in table
    assert '"invocation_id": "596ac100"' in check_report.render_json([row])


def test_compact_table_fits_100_columns_and_groups_by_asset() -> None:
    long_name = "accepted_values_stg_orders_standardized_status__" + "x" * 80
    rows = [
        CheckRow(asset="raw_orders", check="partition_not_empty", result="PASSED",
                 severity="ERROR", partition="2024-03-01...2024-03-07",
                 metadata={"partition_range": "2024-03-01...2024-03-07", "rows": 14000}),
        CheckRow(asset="raw_orders", check="null_customer_share", result="FAILED",
                 severity="WARN", partition="2024-03-01...2024-03-07",
                 metadata={"ids": list(range(200))}),
        CheckRow(asset="stg_orders", check=long_name, result="EXECUTION_FAILED"),
    ]  # fmt: skip
    text = check_report.render(rows, "compact")
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert lines[0].split()[:5] == ["asset", "/", "check", "result", "severity"]
    assert "raw_orders  2024-03-01...2024-03-07" in lines
    passed = next(x for x in lines if "partition_not_empty" in x)
    assert "PASSED" in passed and "ERROR" in passed and passed.endswith("rows=14000")
    assert "partition_range" not in passed  # repeats the partition shown on the asset's line
    assert any(x.startswith("  accepted_values_stg_orders_") and "..." in x for x in lines)
    assert "ERROR-severity failures: stg_orders:accepted_values" in " ".join(lines[-3:])
