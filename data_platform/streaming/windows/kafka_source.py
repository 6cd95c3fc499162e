"""`kafka_py`: a Spark streaming source on librdkafka (confluent-kafka), for where the official
JAR is missing.

Written with the Python Data Source API. Options mirror the official `kafka` source
(`kafka.bootstrap.servers`, `subscribe`, `startingOffsets`, `maxOffsetsPerTrigger`,
`failOnDataLoss`, plus `kafka.<librdkafka setting>`, e.g. `kafka.security.protocol`), and so
does the row schema (key, value, topic, partition, offset, timestamp, timestampType). Stream
offsets are the next offset per partition; a micro-batch reads exactly `[start, end)` of each
partition through the micro-batch's own range reader, so a replayed batch reads the same
records, every codec decodes and transaction markers are skipped.

The end of a partition is what a fetch reply reports, not ListOffsets: the tansu broker answers
ListOffsets(latest) with the last batch's base offset + 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

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

from data_platform.streaming.windows import offsets as window_offsets
from data_platform.streaming.windows.offsets import OffsetRange, Offsets

if TYPE_CHECKING:  # the client is imported where it is used, inside the Spark tasks
    from data_platform.kafka.client import Consumer, Message

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
    """librdkafka settings from `kafka.*` options (`kafka.ssl.ca.location` → ssl.ca.location);
    librdkafka itself refuses a name it does not know when the first client starts."""
    servers = options.get("kafka.bootstrap.servers")
    if not servers:
        raise ValueError("kafka_py source: option 'kafka.bootstrap.servers' is required")
    config: dict[str, Any] = {
        key[len("kafka.") :]: value for key, value in options.items() if key.startswith("kafka.")
    }
    config.setdefault("isolation.level", "read_committed")
    _check_settings(config)
    return config


def _check_settings(config: dict[str, Any]) -> None:
    """librdkafka's own verdict on every setting, before Spark plans anything: a throwaway
    client, closed at once."""
    from data_platform.kafka import client

    try:
        client.check_settings(config, "kafka-py-settings-check")
    except ValueError as exc:
        raise ValueError(f"kafka_py source: option not accepted by librdkafka: {exc}") from exc


def _group(values: dict[tuple[str, int], int]) -> Offsets:
    grouped: Offsets = {}
    for (topic, partition), offset in values.items():
        grouped.setdefault(topic, {})[str(partition)] = int(offset)
    return grouped


def probe_end_offsets(
    config: dict[str, Any], topics: list[str], timeout_s: float = 30.0
) -> Offsets:
    """The readable end of every partition of `topics`, from fetch replies."""
    from data_platform.kafka import client

    return {
        topic: {
            str(p): end
            for p, end in client.probe_end_offsets(config, topic, None, timeout_s).items()
        }
        for topic in topics
    }


class KafkaRangePartition(InputPartition):
    """One Spark task: the records `[start, end)` of one topic partition."""

    def __init__(self, offset_range: OffsetRange) -> None:
        super().__init__(offset_range)
        self.range = offset_range


def read_range(config: dict[str, Any], offset_range: OffsetRange) -> Iterator[pa.RecordBatch]:
    """Exactly the records of `[start, end)`, as Arrow batches; fails rather than return fewer
    (a range cut short by an open transaction is retried by Spark, never skipped)."""
    from data_platform.kafka import client
    from data_platform.kafka.ranges import PartitionRange

    wanted = PartitionRange(offset_range.partition, offset_range.start, offset_range.end)
    reader = client.RangeReader(config, offset_range.topic, [wanted], FETCH_STALL_SECONDS)
    for messages in reader:
        for start in range(0, len(messages), ARROW_BATCH_ROWS):
            yield _arrow_batch(messages[start : start + ARROW_BATCH_ROWS])
    if reader.read and reader.read[0].end < wanted.end:
        raise client.RangeUnavailable(
            f"kafka_py source: {offset_range.topic}-{offset_range.partition} is readable only "
            f"up to {reader.read[0].end} (an open transaction), not {wanted.end}; retry later"
        )


def _arrow_batch(messages: list[Message]) -> pa.RecordBatch:
    stamps = [m.timestamp() for m in messages]
    return pa.RecordBatch.from_arrays(
        [
            pa.array([m.key() for m in messages], pa.binary()),
            pa.array([m.value() for m in messages], pa.binary()),
            pa.array([m.topic() for m in messages], pa.string()),
            pa.array([m.partition() for m in messages], pa.int32()),
            pa.array([m.offset() for m in messages], pa.int64()),
            pa.array(
                [ts * 1000 if kind and ts >= 0 else None for kind, ts in stamps],
                _ARROW_SCHEMA.field("timestamp").type,
            ),
            # librdkafka: 1 create time, 2 log-append time; Spark's rows: 0 and 1.
            pa.array([kind - 1 if kind else -1 for kind, _ in stamps], pa.int32()),
        ],
        schema=_ARROW_SCHEMA,
    )


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
        self._consumer: Consumer | None = None
        self._target: Offsets | None = None

    def _client(self) -> Consumer:
        if self._consumer is None:
            from data_platform.kafka import client

            self._consumer = client.new_consumer(self.config)
        return self._consumer

    def _earliest(self) -> Offsets:
        """The log start of every partition (ListOffsets(earliest) is exact everywhere)."""
        from data_platform.kafka import client

        consumer = self._client()
        starts = {}
        for topic in self.topics:
            try:
                partitions = client.topic_partitions(consumer, topic)
            except client.BrokerUnavailable as exc:
                raise RuntimeError(f"kafka_py source: {exc}") from exc
            for p in partitions:
                low, _ = client.watermarks(consumer, topic, p, 30)
                starts[(topic, p)] = max(low, 0)
        return _group(starts)

    def _latest(self) -> Offsets:
        return probe_end_offsets(self.config, self.topics)

    def initialOffset(self) -> dict:
        earliest = self._earliest()
        if self.starting == "earliest":
            return earliest
        latest = self._latest()
        if self.starting == "latest":
            return latest
        if not isinstance(self.starting, dict):
            raise ValueError(f"startingOffsets: expected earliest, latest or JSON offsets, got "
                             f"{self.starting!r}")  # fmt: skip
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
        if not isinstance(partition, KafkaRangePartition):
            raise TypeError(f"expected a KafkaRangePartition from partitions(), got {partition!r}")
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
