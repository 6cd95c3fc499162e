"""What the dead-letter table holds, summarised for a person: totals, reasons, the latest rows.

A batch's own counters say what that batch did; someone looking at the DLQ asks what is in the
table now. Everything here is read from `stream.orders_dlq` itself, so the figures always agree
with a `SELECT COUNT(*)` on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from data_platform.streaming.microbatch.stream_store import DLQ

PREVIEW_ROWS = 10
PAYLOAD_CHARS = 80
MESSAGE_CHARS = 120

COLUMN_DESCRIPTIONS = {
    "topic": "Source topic of the record.",
    "partition": "Source partition.",
    "offset": "Source offset (with topic and partition, the key).",
    "key": "The record's key bytes, as sent.",
    "headers": "The record's headers as a JSON list of [name, text].",
    "raw_headers": "The record's headers as they were (name, value bytes).",
    "payload": "The record's value bytes, as sent (null for a tombstone).",
    "payload_text": "The value as text when it is UTF-8.",
    "error_code": "Why it was dead-lettered (e.g. not_json, missing_field).",
    "error_message": "The reason in words, naming the field.",
    "kafka_timestamp": "The record's Kafka timestamp.",
    "ingested_at": "When the batch that dead-lettered it committed.",
    "run_id": "The Dagster run that dead-lettered it.",
    "replayed_at": "When `data-platform dlq replay` re-published it.",
    "published_at": "When it was published to the DLQ topic.",
}


@dataclass(frozen=True)
class DlqColumn:
    name: str
    data_type: str
    nullable: bool
    description: str


@dataclass(frozen=True)
class DeadLetterRow:
    """One dead letter as shown in a preview: coordinates, reason and readable texts."""

    topic: str
    partition: int
    offset: int
    error_code: str
    error_message: str
    payload: str


@dataclass(frozen=True)
class DlqContents:
    total: int
    by_reason: dict[str, int]
    latest: list[DeadLetterRow]
    columns: list[DlqColumn]


def cut(text: str, limit: int) -> str:
    """`text` on one line (control characters escaped), at most `limit` characters."""
    head = text[:limit]  # a 32 KiB payload is not flattened to show 80 characters of it
    flat = "".join(c if c.isprintable() else repr(c)[1:-1] for c in head)
    return flat if len(flat) <= limit and len(head) == len(text) else flat[: limit - 1] + "…"


def payload_preview(payload: bytes | None, text: str | None, limit: int = PAYLOAD_CHARS) -> str:
    """The payload as a person can read it: its text, or what it is when it has none."""
    if text is not None:
        return cut(text, limit)
    if payload is None:
        return "(null value: tombstone)"
    return cut(f"({len(payload)} bytes, not UTF-8) {payload[:32].hex(' ')}", limit)


def dlq_contents(conn: duckdb.DuckDBPyConnection, preview_rows: int = PREVIEW_ROWS) -> DlqContents:
    """Totals, rows per reason, the latest `preview_rows` dead letters and the columns, all read
    from the table in one connection (call it inside the batch's connection, after the commit)."""
    (total,) = conn.execute(f"SELECT COUNT(*) FROM {DLQ}").fetchone() or (0,)  # noqa: S608
    reasons = conn.execute(
        f"SELECT error_code, COUNT(*) FROM {DLQ} GROUP BY 1 ORDER BY 2 DESC, 1"  # noqa: S608
    ).fetchall()
    rows = conn.execute(
        f"""SELECT topic, "partition", "offset", error_code, error_message, payload, payload_text
            FROM {DLQ} ORDER BY ingested_at DESC, topic, "partition", "offset" DESC
            LIMIT ?""",  # noqa: S608
        [preview_rows],
    ).fetchall()
    latest = [
        DeadLetterRow(t, p, o, code, cut(message, MESSAGE_CHARS), payload_preview(payload, text))
        for t, p, o, code, message, payload, text in rows
    ]
    schema, _, table = DLQ.partition(".")
    columns = [
        DlqColumn(name, data_type, nullable == "YES", COLUMN_DESCRIPTIONS.get(name, ""))
        for name, data_type, nullable in conn.execute(
            """SELECT column_name, data_type, is_nullable FROM information_schema.columns
               WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position""",
            [schema, table],
        ).fetchall()
    ]
    return DlqContents(int(total), {code: int(n) for code, n in reasons}, latest, columns)
