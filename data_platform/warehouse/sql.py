"""The only places a name or a literal is written into SQL text.

Values reach SQL as bound parameters everywhere else. Two kinds of statement take none: DDL
names (schemas, tables, columns) and DuckDB's ATTACH / CREATE SECRET / INSTALL options.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (any name, embedded quotes doubled)."""
    if not name or "\x00" in name:
        raise ValueError(f"not a usable SQL identifier: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def plain_ident(name: str) -> str:
    """A lower-case identifier from the platform's own constants, checked, written bare."""
    if not _PLAIN.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def sql_literal(value: str) -> str:
    """A single-quoted SQL string literal, for the statements that take no parameters."""
    if "\x00" in value:
        raise ValueError("a SQL literal cannot hold a NUL character")
    return "'" + value.replace("'", "''") + "'"
