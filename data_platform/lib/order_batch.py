"""Split a micro-batch of Kafka records into valid order events and dead letters (Arrow tables).

Works column-wise so a batch of 100k records becomes two Arrow tables DuckDB inserts at once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from data_platform.lib import order_events as oe

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
DLQ_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("key", pa.binary()),
        ("headers", pa.string()),
        ("payload", pa.binary()),
        ("payload_text", pa.string()),
        ("error_code", pa.string()),
        ("error_message", pa.string()),
        ("kafka_timestamp", _TS),
    ]
)
SAMPLE_ERRORS = 5


def _table(columns: dict[str, list[Any]], schema: pa.Schema) -> pa.Table:
    arrays = [
        kafka_times(columns[f.name])
        if f.name == "kafka_timestamp"
        else pa.array(columns[f.name], f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def headers_json(headers: Iterable[tuple[str, bytes | None]] | None) -> str:
    """Headers as a JSON list of [name, value-as-text] pairs (undecodable bytes escaped)."""
    pairs = [
        [k, None if v is None else v.decode("utf-8", "backslashreplace")]
        for k, v in (headers or [])
    ]
    return json.dumps(pairs)


@dataclass
class SplitBatch:
    """Validated records of a batch. Valid events can be drained chunk by chunk (to be inserted
    while the next chunk is read); dead letters stay until the end (they are few)."""

    events: dict[str, list[Any]] = field(
        default_factory=lambda: {n: [] for n in EVENT_SCHEMA.names}
    )
    dead: dict[str, list[Any]] = field(default_factory=lambda: {n: [] for n in DLQ_SCHEMA.names})
    reasons: Counter = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    read: int = 0
    drained: int = 0
    dead_records: list[Any] = field(default_factory=list)  # originals, for the DLQ topic

    def events_table(self) -> pa.Table:
        return _table(self.events, EVENT_SCHEMA)

    def drain_events(self) -> pa.Table:
        """The valid events gathered since the last drain, as Arrow (the lists are emptied)."""
        table = self.events_table()
        self.drained += table.num_rows
        for column in self.events.values():
            column.clear()
        return table

    def dead_table(self) -> pa.Table:
        return _table(self.dead, DLQ_SCHEMA)

    @property
    def loaded(self) -> int:
        """Valid records (loaded now or already present)."""
        return self.drained + len(self.events["offset"])

    @property
    def dead_lettered(self) -> int:
        return len(self.dead["offset"])


def kafka_times(ms: list[int]) -> pa.Array:
    """Kafka timestamps (ms since epoch, -1 when absent) as a UTC timestamp column."""
    raw = pa.array(ms, pa.int64())
    valid = pc.greater_equal(raw, 0)
    return pc.if_else(valid, raw, None).cast(pa.timestamp("ms", tz="UTC")).cast(_TS)


def split_records(
    records: Iterable[Any],
    max_bytes: int = oe.DEFAULT_MAX_RECORD_BYTES,
    batch: SplitBatch | None = None,
) -> SplitBatch:
    """Validate every record (kafka-python ConsumerRecord-like) into events or dead letters.

    The loop is the hot path of a micro-batch: appends are bound once, Kafka timestamps stay
    integers until Arrow converts the whole column.
    """
    batch = batch if batch is not None else SplitBatch()
    ev, dl = batch.events, batch.dead
    ev_cols = [ev[name].append for name in EVENT_SCHEMA.names]
    validate, event_type = oe.validate_value, oe.OrderEvent
    for rec in records:
        result = validate(rec.value, max_bytes)
        if type(result) is event_type:
            values = (rec.topic, rec.partition, rec.offset, *result, rec.timestamp)
            for append, value in zip(ev_cols, values, strict=True):
                append(value)
            continue
        if len(batch.samples) < SAMPLE_ERRORS:
            batch.samples.append(f"{rec.topic}/{rec.partition}@{rec.offset}: {result.message}")
        batch.reasons[result.code] += 1
        batch.dead_records.append((rec, result))
        dl["topic"].append(rec.topic)
        dl["partition"].append(rec.partition)
        dl["offset"].append(rec.offset)
        dl["key"].append(rec.key)
        dl["headers"].append(headers_json(rec.headers))
        dl["payload"].append(rec.value)
        dl["payload_text"].append(oe.decode_text(rec.value))
        dl["error_code"].append(result.code)
        dl["error_message"].append(result.message)
        dl["kafka_timestamp"].append(rec.timestamp)
    batch.read = batch.loaded + batch.dead_lettered
    return batch
