"""`kafka_py`: a Spark streaming source over kafka-python, for where the official JAR is missing.

Written with the Python Data Source API. Options mirror the official `kafka` source
(`kafka.bootstrap.servers`, `subscribe`, `startingOffsets`, `maxOffsetsPerTrigger`,
`failOnDataLoss`, plus `kafka.<client setting>` passed to kafka-python, e.g.
`kafka.security.protocol`), and so does the row schema (key, value, topic, partition, offset,
timestamp, timestampType). Stream offsets are the next offset per partition; a micro-batch reads
exactly `[start, end)` of each partition, so a replayed batch reads the same records.

The end of a partition is taken from the high watermark of a fetch response, not from
ListOffsets: the tansu broker answers ListOffsets(latest) with the last batch's base offset + 1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from data_platform.lib import window_offsets
from data_platform.lib.window_offsets import OffsetRange, Offsets

SOURCE_NAME = "kafka_py"
KAFKA_ROW_SCHEMA = StructType(
    [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", TimestampType()),
        StructField("timestampType", IntegerType()),
    ]
)
_ARROW_SCHEMA = pa.schema(
    [
        ("key", pa.binary()),
        ("value", pa.binary()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("timestampType", pa.int32()),
    ]
)
ARROW_BATCH_ROWS = 10_000
FETCH_STALL_SECONDS = 60.0


def client_config(options: dict[str, str]) -> dict[str, Any]:
    """kafka-python settings from `kafka.*` options (`kafka.ssl.cafile` → ssl_cafile)."""
    from kafka import KafkaConsumer

    servers = options.get("kafka.bootstrap.servers")
    if not servers:
        raise ValueError("kafka_py source: option 'kafka.bootstrap.servers' is required")
    config: dict[str, Any] = {"bootstrap_servers": servers.split(",")}
    for key, value in options.items():
        if not key.startswith("kafka.") or key == "kafka.bootstrap.servers":
            continue
        name = key[len("kafka.") :].replace(".", "_")
        if name not in KafkaConsumer.DEFAULT_CONFIG:
            raise ValueError(f"kafka_py source: option {key!r} is not a kafka-python setting")
        default = KafkaConsumer.DEFAULT_CONFIG[name]
        config[name] = int(value) if isinstance(default, int) and value.isdigit() else value
    return config


def _consumer(config: dict[str, Any]) -> Any:
    from kafka import KafkaConsumer

    return KafkaConsumer(
        **config, enable_auto_commit=False, auto_offset_reset="earliest", group_id=None
    )


def topic_partitions(consumer: Any, topics: list[str]) -> list[Any]:
    from kafka import TopicPartition

    result = []
    for topic in topics:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise RuntimeError(f"kafka_py source: topic {topic!r} does not exist (no partitions)")
        result += [TopicPartition(topic, p) for p in sorted(partitions)]
    return result


def probe_end_offsets(config: dict[str, Any], tps: list[Any], timeout_s: float = 30.0) -> Offsets:
    """True end (high watermark) per partition, read from fetch responses.

    ListOffsets(latest) is only a lower bound on some brokers (tansu), so a fresh consumer (no
    stale high watermarks) seeks to one before it and fetches: every fetch response carries the
    partition's high watermark.
    """
    consumer = _consumer(config)
    try:
        consumer.assign(tps)
        lower = consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(lower[tp] - 1, 0))
        seen: dict[Any, int] = {}
        deadline = time.monotonic() + timeout_s
        while len(seen) < len(tps):
            if time.monotonic() > deadline:
                missing = [f"{tp.topic}-{tp.partition}" for tp in tps if tp not in seen]
                raise TimeoutError(f"kafka_py source: no fetch response for {missing}")
            consumer.poll(timeout_ms=200)
            for tp in tps:
                high = consumer.highwater(tp)
                if tp not in seen and high is not None:
                    seen[tp] = max(high, lower[tp])
    finally:
        consumer.close()
    return _group(seen)


def _group(values: dict[Any, int]) -> Offsets:
    grouped: Offsets = {}
    for tp, offset in values.items():
        grouped.setdefault(tp.topic, {})[str(tp.partition)] = int(offset)
    return grouped


class KafkaRangePartition(InputPartition):
    """One Spark task: the records `[start, end)` of one topic partition."""

    def __init__(self, offset_range: OffsetRange) -> None:
        super().__init__(offset_range)
        self.range = offset_range


def read_range(config: dict[str, Any], offset_range: OffsetRange) -> Iterator[pa.RecordBatch]:
    """Exactly the records of `[start, end)`, as Arrow batches; fails rather than return fewer."""
    from kafka import TopicPartition

    tp = TopicPartition(offset_range.topic, offset_range.partition)
    consumer = _consumer(config)
    try:
        consumer.assign([tp])
        consumer.seek(tp, offset_range.start)
        columns: dict[str, list] = {name: [] for name in _ARROW_SCHEMA.names}
        last_progress = time.monotonic()
        while consumer.position(tp) < offset_range.end:
            records = consumer.poll(timeout_ms=500).get(tp, [])
            if not records:
                if time.monotonic() - last_progress > FETCH_STALL_SECONDS:
                    raise TimeoutError(
                        f"kafka_py source: {tp.topic}-{tp.partition} stalled at offset "
                        f"{consumer.position(tp)} before {offset_range.end}"
                    )
                continue
            last_progress = time.monotonic()
            for record in records:
                if record.offset >= offset_range.end:
                    break
                if record.offset < offset_range.start:
                    continue
                columns["key"].append(record.key)
                columns["value"].append(record.value)
                columns["topic"].append(record.topic)
                columns["partition"].append(record.partition)
                columns["offset"].append(record.offset)
                columns["timestamp"].append(
                    datetime.fromtimestamp(record.timestamp / 1000, tz=timezone.utc)
                    if record.timestamp is not None and record.timestamp >= 0
                    else None
                )
                columns["timestampType"].append(record.timestamp_type)
            if records[-1].offset >= offset_range.end - 1:
                break
            if len(columns["offset"]) >= ARROW_BATCH_ROWS:
                yield pa.RecordBatch.from_pydict(columns, schema=_ARROW_SCHEMA)
                columns = {name: [] for name in _ARROW_SCHEMA.names}
        if columns["offset"]:
            yield pa.RecordBatch.from_pydict(columns, schema=_ARROW_SCHEMA)
    finally:
        consumer.close()


class KafkaPyStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Offsets are per-partition positions; `availableNow` pins the end seen when it starts."""

    def __init__(self, options: dict[str, str]) -> None:
        options = {k.lower(): v for k, v in options.items()}  # Spark hands them over lower-cased
        topics = options.get("subscribe", "")
        self.topics = [t.strip() for t in topics.split(",") if t.strip()]
        if not self.topics:
            raise ValueError(
                "kafka_py source: option 'subscribe' (comma-separated topics) is required"
            )
        self.config = client_config(options)
        self.starting = window_offsets.parse_starting_offsets(
            options.get("startingoffsets", "earliest")
        )
        cap = options.get("maxoffsetspertrigger")
        self.max_records = int(cap) if cap else None
        self.fail_on_data_loss = options.get("failondataloss", "true").lower() != "false"
        self._consumer: Any = None
        self._target: Offsets | None = None

    def _client(self) -> Any:
        if self._consumer is None:
            self._consumer = _consumer(self.config)
        return self._consumer

    def _tps(self) -> list[Any]:
        return topic_partitions(self._client(), self.topics)

    def _earliest(self) -> Offsets:
        tps = self._tps()
        return _group(self._client().beginning_offsets(tps))

    def _latest(self) -> Offsets:
        return probe_end_offsets(self.config, self._tps())

    def initialOffset(self) -> dict:
        earliest = self._earliest()
        if self.starting == "earliest":
            return earliest
        latest = self._latest()
        if self.starting == "latest":
            return latest
        assert isinstance(self.starting, dict)
        result = earliest
        for topic, partitions in self.starting.items():
            for partition, offset in partitions.items():
                bound = {window_offsets.EARLIEST: earliest, window_offsets.LATEST: latest}
                chosen = bound[offset].get(topic, {}).get(partition, 0) if offset < 0 else offset
                result.setdefault(topic, {})[partition] = chosen
        return result

    def prepareForTriggerAvailableNow(self) -> None:
        self._target = self._latest()

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_records) if self.max_records else ReadAllAvailable()

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        latest = self._target if self._target is not None else self._latest()
        if self.fail_on_data_loss:
            window_offsets.check_not_behind(start, latest)
        start_full = self._earliest()  # partitions new since `start` begin at their earliest
        for topic, partitions in start.items():
            start_full.setdefault(topic, {}).update(partitions)
        bounded = {
            t: {p: max(o, start_full.get(t, {}).get(p, 0)) for p, o in ps.items()}
            for t, ps in latest.items()
        }
        max_rows = limit.max_rows if isinstance(limit, ReadMaxRows) else None
        end = window_offsets.cap_offsets(start_full, bounded, max_rows)
        return end if window_offsets.count_records(start_full, end) else start

    def reportLatestOffset(self) -> dict | None:
        return self._target

    def partitions(self, start: dict, end: dict) -> list[InputPartition]:
        new = any(p not in start.get(t, {}) for t, ps in end.items() for p in ps)
        earliest = self._earliest() if new else None
        ranges = window_offsets.offset_ranges(start, end, earliest)
        return [KafkaRangePartition(r) for r in ranges]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, KafkaRangePartition)
        yield from read_range(self.config, partition.range)

    def commit(self, end: dict) -> None:
        """Nothing to do: the checkpoint is the source of truth for positions."""

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


class KafkaPyDataSource(DataSource):
    """Register with `spark.dataSource.register(...)`, then `readStream.format("kafka_py")`."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> StructType:
        return KAFKA_ROW_SCHEMA

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return KafkaPyStreamReader(dict(self.options))
