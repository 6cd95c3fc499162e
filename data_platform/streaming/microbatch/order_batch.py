"""Split a micro-batch of Kafka messages into valid order events and dead letters (Arrow tables).

Works column-wise so a batch of 100k records becomes two Arrow tables DuckDB inserts at once.
The plainly valid event is recognised inline with orjson and its `event_time` parsed for the
whole chunk at once (vectorized, in DuckDB, by a strict ISO-8601 pattern); every other record,
and every row whose time the strict parse refuses, goes through `order_events.validate_value`,
which names the reason. Nothing a record holds can make this raise: an unexpected exception
while validating one record dead-letters that record (`validation_error`, the type named).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from data_platform.kafka.client import KafkaRecord, Message, UndecodableSpan, record_of
from data_platform.orders import events as oe

_TS = pa.timestamp("us", tz="UTC")
EVENT_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("order_id", pa.string()),
        ("customer_id", pa.string()),
        ("amount", pa.float64()),
        ("currency", pa.string()),
        ("event_time", _TS),
        ("kafka_timestamp", _TS),
    ]
)
RAW_HEADERS = pa.list_(pa.struct([("name", pa.string()), ("value", pa.binary())]))
DLQ_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("key", pa.binary()),
        ("headers", pa.string()),
        ("raw_headers", RAW_HEADERS),
        ("payload", pa.binary()),
        ("payload_text", pa.string()),
        ("error_code", pa.string()),
        ("error_message", pa.string()),
        ("kafka_timestamp", _TS),
    ]
)
SAMPLE_ERRORS = 5
UNDECODABLE_BATCH = "undecodable_batch"
VALIDATION_ERROR = oe.VALIDATION_ERROR

# What the vectorized parse accepts: the one shape producers write, years 1900-2999 (so the
# UTC instant is always representable), hours/minutes/seconds and zone offsets in range.
# Anything else is parsed (or refused, with the reason) by the Python validator.
_STRICT_TIME = (
    r"(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
_PARSE_TIMES = f"""SELECT CASE WHEN regexp_full_match(t, '{_STRICT_TIME}')
    THEN try_cast(t AS TIMESTAMPTZ) END AS event_time FROM event_time_text"""  # noqa: S608
_PARSER = threading.local()
_MAX_KAFKA_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def parse_event_times(texts: list[str]) -> pa.Array:
    """UTC instants for ISO-8601 texts in the strict shape, null for every other text."""
    conn = getattr(_PARSER, "conn", None)
    if conn is None:
        conn = _PARSER.conn = duckdb.connect()
        conn.execute("SET TimeZone = 'UTC'")
    conn.register("event_time_text", pa.table({"t": pa.array(texts, pa.string())}))
    try:
        column = conn.sql(_PARSE_TIMES).to_arrow_table().column(0)
    finally:
        conn.unregister("event_time_text")
    return column.combine_chunks().cast(_TS)


def headers_json(headers: Iterable[tuple[str, bytes | None]] | None) -> str:
    """Headers as a JSON list of [name, value-as-text] pairs (undecodable bytes escaped)."""
    pairs = [
        [k, None if v is None else v.decode("utf-8", "backslashreplace")]
        for k, v in (headers or [])
    ]
    return json.dumps(pairs)


def kafka_times(ms: list[int]) -> pa.Array:
    """Kafka timestamps (ms since epoch, -1 when absent) as a UTC timestamp column, converted
    at once; a time beyond year 9999 is absent too, not an overflow that fails the batch."""
    stamps = pa.array(ms, pa.int64())
    present = pc.and_(pc.greater_equal(stamps, 0), pc.less_equal(stamps, _MAX_KAFKA_MS))
    return pc.if_else(present, pc.multiply(stamps, 1000), None).cast(_TS)


def _columns(names: Iterable[str]) -> dict[str, list[Any]]:
    return {n: [] for n in names}


def _table(columns: dict[str, list[Any]], schema: pa.Schema) -> pa.Table:
    arrays = [
        kafka_times(columns[f.name])
        if f.name == "kafka_timestamp"
        else pa.array(columns[f.name], f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


# Inline-accepted rows: event_time as text until the chunk is parsed; the topic is the batch's.
_FAST_NAMES = (*EVENT_SCHEMA.names[1:], "message")


@dataclass
class SplitBatch:
    """Validated records of a batch. Valid events are drained chunk by chunk (inserted while the
    next chunk is read); dead letters stay until the end (they are few)."""

    fast: dict[str, list[Any]] = field(default_factory=lambda: _columns(_FAST_NAMES))
    events: dict[str, list[Any]] = field(default_factory=lambda: _columns(EVENT_SCHEMA.names))
    dead: dict[str, list[Any]] = field(default_factory=lambda: _columns(DLQ_SCHEMA.names))
    reasons: Counter = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    read: int = 0
    drained: int = 0
    max_bytes: int = oe.DEFAULT_MAX_RECORD_BYTES
    topic: str = ""
    dead_records: list[tuple[KafkaRecord, oe.EventError]] = field(default_factory=list)

    def drain_events(self) -> pa.Table:
        """The valid events gathered since the last drain, as Arrow (the lists are emptied)."""
        fast = self._settle_fast()
        table = _table(self.events, EVENT_SCHEMA)
        if fast is not None:
            table = pa.concat_tables([fast, table]) if table.num_rows else fast
        self.drained += table.num_rows
        for column in self.events.values():
            column.clear()
        return table

    def _settle_fast(self) -> pa.Table | None:
        """The inline-accepted rows with their times parsed at once. A row whose time the strict
        parse refuses is validated on its own (an unusual valid format, or the reason)."""
        fast = self.fast
        if not fast["offset"]:
            return None
        times = parse_event_times(fast["event_time"])
        messages = fast["message"]
        arrays = [
            times
            if f.name == "event_time"
            else pa.array([self.topic] * len(times), f.type)
            if f.name == "topic"
            else kafka_times(fast[f.name])
            if f.name == "kafka_timestamp"
            else pa.array(fast[f.name], f.type)
            for f in EVENT_SCHEMA
        ]
        table = pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)
        self.fast = _columns(_FAST_NAMES)
        if times.null_count:
            table = table.filter(times.is_valid())
            for i in times.is_null().to_numpy(zero_copy_only=False).nonzero()[0]:
                validate_message(self, messages[i], self.max_bytes)
        return table

    def dead_table(self) -> pa.Table:
        return _table(self.dead, DLQ_SCHEMA)

    @property
    def pending_events(self) -> int:
        return len(self.events["offset"]) + len(self.fast["offset"])

    @property
    def loaded(self) -> int:
        """Valid records (loaded now or already present)."""
        return self.drained + self.pending_events

    @property
    def dead_lettered(self) -> int:
        return len(self.dead["offset"])

    def count_read(self) -> None:
        self.read = self.loaded + self.dead_lettered


def split_messages(
    messages: list[Message],
    max_bytes: int = oe.DEFAULT_MAX_RECORD_BYTES,
    batch: SplitBatch | None = None,
) -> SplitBatch:
    """Validate every message of a chunk into events or dead letters.

    The loop is the hot path of a micro-batch: appends are bound once, the plainly valid event
    is recognised with a handful of type checks, Kafka timestamps stay integers and event times
    text until Arrow and DuckDB convert whole columns.
    """
    batch = batch if batch is not None else SplitBatch()
    batch.max_bytes = max_bytes
    fast = batch.fast
    # One bound append per column, called explicitly: a loop over the columns costs 3x as much.
    (partitions, offsets, order_ids, customer_ids, amounts, currencies, event_times,
     kafka_timestamps, kept) = (fast[name].append for name in _FAST_NAMES)  # fmt: skip
    if messages:
        batch.topic = messages[0].topic() or ""
    loads, plainly_valid = orjson.loads, oe.plainly_valid
    for message in messages:
        value = message.value()
        if value is not None and len(value) <= max_bytes:
            try:
                doc = loads(value)
                order_id, customer_id = doc["order_id"], doc["customer_id"]
                amount, currency, event_time = doc["amount"], doc["currency"], doc["event_time"]
            except Exception:
                pass
            else:
                if plainly_valid(order_id, customer_id, amount, currency, event_time):
                    partitions(message.partition())
                    offsets(message.offset())
                    order_ids(order_id)
                    customer_ids(customer_id)
                    amounts(amount)
                    currencies(currency)
                    event_times(event_time)
                    kafka_timestamps(message.timestamp()[1])
                    kept(message)
                    continue
        validate_message(batch, message, max_bytes)
    batch.count_read()
    return batch


def validate_message(batch: SplitBatch, message: Message, max_bytes: int) -> None:
    """The reference validation of one message: an event, or a dead letter with its reason.

    Never raises: an exception inside validation (a bug, or input no rule foresaw) becomes the
    record's reason, so one record can never fail the batch."""
    try:
        result = oe.validate_value(message.value(), max_bytes)
    except Exception as exc:  # the promise is "never raises": keep it even for the unforeseen
        result = oe.unexpected_error(exc)
    if isinstance(result, oe.OrderEvent):
        ev = batch.events
        ev["topic"].append(message.topic())
        ev["partition"].append(message.partition())
        ev["offset"].append(message.offset())
        ev["order_id"].append(result.order_id)
        ev["customer_id"].append(result.customer_id)
        ev["amount"].append(result.amount)
        ev["currency"].append(result.currency)
        ev["event_time"].append(result.event_time)
        ev["kafka_timestamp"].append(message.timestamp()[1])
    else:
        dead_letter(batch, record_of(message), result)


def dead_letter(batch: SplitBatch, rec: KafkaRecord, error: oe.EventError) -> None:
    if len(batch.samples) < SAMPLE_ERRORS:
        batch.samples.append(f"{rec.topic}/{rec.partition}@{rec.offset}: {error.message}")
    batch.reasons[error.code] += 1
    batch.dead_records.append((rec, error))
    dl = batch.dead
    dl["topic"].append(rec.topic)
    dl["partition"].append(rec.partition)
    dl["offset"].append(rec.offset)
    dl["key"].append(rec.key)
    dl["headers"].append(headers_json(rec.headers))
    dl["raw_headers"].append([{"name": k, "value": v} for k, v in rec.headers])
    dl["payload"].append(rec.value)
    dl["payload_text"].append(oe.decode_text(rec.value))
    dl["error_code"].append(error.code)
    dl["error_message"].append(error.message)
    dl["kafka_timestamp"].append(rec.timestamp)


def dead_letter_span(batch: SplitBatch, topic: str, span: UndecodableSpan) -> None:
    """One dead letter for a batch the client could not decode (no bytes: librdkafka keeps
    none), at its first offset; the message names the whole span."""
    error = oe.EventError(
        UNDECODABLE_BATCH,
        f"offsets [{span.start}, {span.end}) of partition {span.partition}: the record batch "
        f"could not be decoded ({span.reason})",
    )
    dead_letter(batch, KafkaRecord(topic, span.partition, span.start, -1, None, None, []), error)
    batch.count_read()
