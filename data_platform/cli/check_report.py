"""Asset-check report rows and their renderings (table, JSON, Markdown); no Dagster imports.

The report is a deploy/CI gate: `failing_error_checks` decides the exit code, so "failed" has
one definition here, shared by every format.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any

PASSED = "PASSED"
FAILED = "FAILED"
# The check was planned but its run failed before evaluating it: the gate cannot vouch for it.
EXECUTION_FAILED = "EXECUTION_FAILED"
SKIPPED = "SKIPPED"
IN_PROGRESS = "IN_PROGRESS"
NEVER_RUN = "NEVER_RUN"

ERROR = "ERROR"
WARN = "WARN"

FORMATS = ("table", "compact", "json", "markdown")
HEADER = ("asset", "check", "partition", "result", "severity", "when", "details")
MAX_DETAIL_CHARS = 80
TERMINAL_WIDTH = 100


@dataclass(frozen=True)
class CheckRow:
    """The latest evaluation of one asset check (or its absence)."""

    asset: str
    check: str
    result: str
    severity: str | None = None
    partition: str | None = None
    evaluated_at: datetime | None = None
    run_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        """True when this row must fail the gate: an ERROR check that failed or never finished."""
        return self.result == EXECUTION_FAILED or (self.result == FAILED and self.severity == ERROR)


def failing_error_checks(rows: Sequence[CheckRow]) -> list[CheckRow]:
    return [row for row in rows if row.blocks]


def _when(row: CheckRow) -> str:
    return row.evaluated_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if row.evaluated_at else ""


# dbt's per-invocation bookkeeping: useful in the UI, noise in a one-line summary (JSON keeps it).
BOOKKEEPING_KEYS = frozenset({"invocation_id", "unique_id", "Execution Duration", "status"})


def _details(metadata: Mapping[str, Any]) -> str:
    """Metadata as `key=value` pairs on one line, each value shortened so a row stays readable."""
    parts = []
    for key, value in metadata.items():
        if key in BOOKKEEPING_KEYS:
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        text = " ".join(text.split())
        if len(text) > MAX_DETAIL_CHARS:
            text = text[: MAX_DETAIL_CHARS - 3] + "..."
        parts.append(f"{key}={text}")
    return " ".join(parts)


def _row_details(row: CheckRow) -> str:
    # Metadata repeating the partition column (e.g. a run's partition range) is left out.
    return _details({k: v for k, v in row.metadata.items() if v is None or v != row.partition})


def _cells(row: CheckRow) -> tuple[str, ...]:
    return (row.asset, row.check, row.partition or "", row.result, row.severity or "",
            _when(row), _row_details(row))  # fmt: skip


def cut(text: str, width: int) -> str:
    """`text` shortened to `width` characters, marked with "..." when something was cut."""
    return text if len(text) <= width else text[: max(width - 3, 0)] + "..."


def render_compact(rows: Sequence[CheckRow], width: int = TERMINAL_WIDTH) -> str:
    """The table for a terminal: checks grouped under their asset (with the partitions they
    covered), long dbt test names and details cut, so no line is wider than `width`."""
    result_w = max([len("result"), *(len(r.result) for r in rows)])
    check_w = min(max([len("check"), *(len(r.check) + 2 for r in rows)]), width // 2)
    severity_w = len("severity")

    def line(check: str, result: str, severity: str, details: str) -> str:
        head = f"{cut(check, check_w):<{check_w}}  {result:<{result_w}}  {severity:<{severity_w}}  "
        return (head + cut(details, width - len(head))).rstrip()

    out = [line("asset / check", "result", "severity", "details")]
    out.append("-" * len(out[0]))
    for asset, group in groupby(rows, key=lambda r: r.asset):
        checks = list(group)
        partitions = sorted({r.partition for r in checks if r.partition})
        out.append(cut("  ".join([asset, *partitions]), width))
        for row in checks:
            out.append(line("  " + row.check, row.result, row.severity or "", _row_details(row)))
    out.extend(textwrap.wrap(summary(rows), width))
    return "\n".join(out) + "\n"


def render_table(rows: Sequence[CheckRow]) -> str:
    lines = [HEADER, *(_cells(row) for row in rows)]
    widths = [max(len(cells[i]) for cells in lines) for i in range(len(HEADER) - 1)]
    out = []
    for cells in lines:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
        out.append("  ".join([*padded, cells[-1]]).rstrip())
    out.insert(1, "  ".join("-" * w for w in widths) + "  -------")
    return "\n".join(out) + "\n" + summary(rows) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: Sequence[CheckRow]) -> str:
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        cells = list(_cells(row))
        cells[3] = f"**{cells[3]}**" if row.blocks else cells[3]
        out.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    return "\n".join(out) + "\n\n" + summary(rows) + "\n"


def render_json(rows: Sequence[CheckRow]) -> str:
    def encode(row: CheckRow) -> dict[str, Any]:
        data = asdict(row)
        data["evaluated_at"] = row.evaluated_at.isoformat() if row.evaluated_at else None
        data["metadata"] = dict(row.metadata)
        data["blocks"] = row.blocks
        return data

    failing = failing_error_checks(rows)
    document = {"checks": [encode(row) for row in rows], "failing_error_checks": len(failing),
                "ok": not failing}  # fmt: skip
    return json.dumps(document, indent=2, default=str) + "\n"


def summary(rows: Sequence[CheckRow]) -> str:
    counts = {r: sum(1 for row in rows if row.result == r) for r in (PASSED, FAILED)}
    failing = failing_error_checks(rows)
    text = f"{len(rows)} checks: {counts[PASSED]} passed, {counts[FAILED]} failed"
    if failing:
        names = ", ".join(f"{row.asset}:{row.check}" for row in failing)
        return f"{text}; ERROR-severity failures: {names}"
    return f"{text}; no ERROR-severity failures"


def render(rows: Sequence[CheckRow], fmt: str) -> str:
    renderers: dict[str, Callable[[Sequence[CheckRow]], str]] = {
        "table": render_table,
        "compact": render_compact,
        "json": render_json,
        "markdown": render_markdown,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return renderers[fmt](rows)
