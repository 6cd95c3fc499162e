"""What `data-platform demo` shows a person: numbered steps with elapsed time, tables and text
that fit a 100-column terminal, while Dagster's own logs go to a file.

A demo run takes minutes and most of it is quiet work inside Dagster runs; the step counter says
where it is and how long each step took, and the log file keeps the detail for when a step fails.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from data_platform.cli.check_report import TERMINAL_WIDTH, cut

WIDTH = TERMINAL_WIDTH
MIN_LAST_COLUMN = 12


def say(text: str = "", indent: str = "") -> None:
    """Print free text wrapped to the terminal width (long paths or messages never overflow)."""
    if not text:
        print(flush=True)
        return
    for paragraph in text.splitlines():
        lines = textwrap.wrap(
            paragraph,
            WIDTH,
            initial_indent=indent,
            subsequent_indent=indent + "  ",
            break_long_words=True,
            break_on_hyphens=False,
        )
        print("\n".join(lines or [""]), flush=True)


def table_lines(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Right-aligned columns; the last column is cut when the table would exceed WIDTH."""
    cells = [[str(v) for v in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    room = WIDTH - 2 - sum(w + 2 for w in widths[:-1])
    widths[-1] = min(widths[-1], max(room, MIN_LAST_COLUMN))
    lines = []
    for row in cells:
        row[-1] = cut(row[-1], widths[-1])
        lines.append(
            ("  " + "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))[:WIDTH]
        )
    return lines


def print_table(title: str, header: tuple[str, ...], rows: list[tuple]) -> None:
    say()
    say(title)
    print("\n".join(table_lines(header, rows)), flush=True)


class Steps:
    """`[ 3/11  1:02] label`: the step number, the total and the time since the demo began."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.monotonic()

    def elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60}:{seconds % 60:02d}"

    def prefix(self) -> str:
        width = len(str(self.total))
        return f"[{self.done:>{width}}/{self.total} {self.elapsed():>5}]"

    def begin(self, label: str, inline: bool = False) -> float:
        """Announce the next step; `inline` leaves the line open for `finish` (a quiet step)."""
        self.done += 1
        room = WIDTH - len(" ... done in 00000.0 s") if inline else WIDTH
        line = cut(f"{self.prefix()} {label}", room)
        print(line, end=" ..." if inline else "\n", flush=True)
        return time.monotonic()

    def finish(self, began: float) -> None:
        print(f" done in {time.monotonic() - began:.1f} s", flush=True)


@contextmanager
def stderr_to(path: Path) -> Iterator[TextIO]:
    """Send this process's stderr (Dagster's console logger, warnings) to `path` and yield a
    stream on the real stderr for the demo's own error messages."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    real = os.fdopen(os.dup(saved), "w", buffering=1)
    with path.open("a") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield real
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            real.close()
