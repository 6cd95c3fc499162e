"""Broker I/O for the order-event micro-batches with kafka-python, under hard time limits:
topics, high watermarks, dead-letter publishing and consumer-group commits (reading ranges is
`kafka_wire`'s job).

Two broker facts shape this module (see ENVIRONMENT.md): ListOffsets(latest) may under-report,
so "how much is there" comes from the high watermark a Fetch response carries; and group
membership (`subscribe`) is slow, so consumers use assign + seek and commits name their offsets.
Every client gets an explicit `api_version` (no version probing) and short bootstrap timeouts,
so an unreachable broker fails in seconds instead of hanging.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from data_platform.lib.kafka_offsets import PartitionRange
from data_platform.lib.kafka_wire import BrokerUnavailable, RangeFetcher
from data_platform.lib.record_batches import KafkaRecord


def check_reachable(bootstrap_servers: list[str], timeout_s: float) -> None:
    """Fail fast (TCP connect) before any kafka-python call that might block on metadata."""
    errors = []
    for server in bootstrap_servers:
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "localhost", int(port)), timeout=timeout_s):
                return
        except (OSError, ValueError) as exc:
            errors.append(f"{server}: {exc}")
    raise BrokerUnavailable("no bootstrap server reachable (" + "; ".join(errors) + ")")


def _admin(config: dict[str, Any]) -> KafkaAdminClient:
    check_reachable(config["bootstrap_servers"], 2.0)
    try:
        return KafkaAdminClient(**config)
    except KafkaError as exc:
        raise BrokerUnavailable(f"admin client could not bootstrap: {exc}") from exc


def ensure_topics(config: dict[str, Any], topics: dict[str, int]) -> list[str]:
    """Create missing topics with the given partition counts (idempotent); returns those created."""
    admin = _admin(config)
    try:
        existing = set(admin.list_topics())
        created = []
        for name, partitions in topics.items():
            if name in existing:
                continue
            try:
                admin.create_topics([NewTopic(name, partitions, 1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # created concurrently by another process: that is the goal
        return created
    finally:
        admin.close()


def topic_partitions(config: dict[str, Any], topic: str) -> list[int]:
    admin = _admin(config)
    try:
        described = admin.describe_topics([topic])
    finally:
        admin.close()
    partitions = [
        p["partition_index"]
        for d in described
        if d["name"] == topic
        for p in d.get("partitions", [])
    ]
    if not partitions:
        raise BrokerUnavailable(f"topic {topic!r} does not exist on the broker")
    return sorted(partitions)


def _consumer(config: dict[str, Any], **extra: Any) -> KafkaConsumer:
    """A short-lived consumer. Its first lookups find no metadata yet and would sleep the default
    retry backoff (100 ms) each time; 10 ms keeps a tick or a commit at ~20 ms."""
    check_reachable(config["bootstrap_servers"], 2.0)
    settings = {
        "enable_auto_commit": False,
        "auto_offset_reset": "none",
        "retry_backoff_ms": 10,
        **config,
        **extra,
    }
    return KafkaConsumer(**settings)


def _seek(consumer: KafkaConsumer, topic: str, starts: dict[int, int]) -> list[TopicPartition]:
    tps = [TopicPartition(topic, p) for p in sorted(starts)]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, starts[tp.partition])
    return tps


def probe_highwaters(
    config: dict[str, Any], topic: str, starts: dict[int, int], timeout_s: float
) -> dict[int, int]:
    """True high watermark per partition, read from Fetch responses starting at `starts`.

    Fetching from each partition's planned start makes the answer exact even where
    ListOffsets(latest) under-reports; records returned are discarded.
    """
    consumer = _consumer(config, fetch_max_wait_ms=50, max_partition_fetch_bytes=1024)
    try:
        tps = _seek(consumer, topic, starts)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            consumer.poll(timeout_ms=100, max_records=1, update_offsets=False)
            marks = {tp.partition: consumer.highwater(tp) for tp in tps}
            if all(m is not None for m in marks.values()):
                return {p: int(m) for p, m in marks.items()}
        missing = sorted(p for p, m in marks.items() if m is None)
        raise BrokerUnavailable(
            f"no fetch response for {topic} partitions {missing} within {timeout_s:.0f}s"
        )
    finally:
        consumer.close()


def read_ranges(
    config: dict[str, Any], topic: str, ranges: list[PartitionRange], idle_timeout_s: float = 15.0
) -> tuple[list[KafkaRecord], dict[int, int]]:
    """Every record of `ranges` in (partition, offset) order, plus the high watermarks seen."""
    fetcher = RangeFetcher(config, topic, ranges, idle_timeout_s)
    records = [chunk.record(i) for chunk in fetcher for i in range(len(chunk))]
    records.sort(key=lambda r: (r.partition, r.offset))
    return records, fetcher.highwaters


def dlq_headers(record: Any, code: str, message: str) -> list[tuple[str, bytes]]:
    """Reason and source coordinates first, then the record's own headers."""
    own = [(k, v) for k, v in (record.headers or []) if not k.startswith("dlq.")]
    return [
        ("dlq.error_code", code.encode()),
        ("dlq.error_message", message.encode()),
        ("dlq.source_topic", record.topic.encode()),
        ("dlq.source_partition", str(record.partition).encode()),
        ("dlq.source_offset", str(record.offset).encode()),
        ("dlq.source_timestamp", str(record.timestamp).encode()),
        *own,
    ]


Message = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]  # key, value, headers


class Publisher:
    """Send (key, value, headers) messages as they become known; `finish` waits until the broker
    acknowledged every one (and raises if any failed). The producer starts on the first send."""

    def __init__(self, config: dict[str, Any], topic: str, timeout_s: float = 30.0) -> None:
        self.config, self.topic, self.timeout_s = config, topic, timeout_s
        self._producer: KafkaProducer | None = None
        self._futures: list[Any] = []

    def send(self, messages: Iterable[Message]) -> None:
        for key, value, headers in messages:
            if self._producer is None:
                self._producer = self._start()
            self._futures.append(
                self._producer.send(self.topic, key=key, value=value, headers=headers)
            )

    def finish(self) -> int:
        """Block until every message sent so far is acknowledged; returns how many there were."""
        if self._producer is not None:
            self._producer.flush(timeout=self.timeout_s)
            for future in self._futures:
                future.get(timeout=self.timeout_s)
        return len(self._futures)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> KafkaProducer:
        check_reachable(self.config["bootstrap_servers"], 2.0)
        return KafkaProducer(
            acks="all",
            linger_ms=5,
            batch_size=1024 * 1024,  # a batch's dead letters in few requests (16 KiB: 5x slower)
            # A dead letter is a record the source topic accepted: never refuse it on size here.
            max_request_size=16 * 1024 * 1024,
            max_block_ms=int(self.timeout_s * 1000),
            **self.config,
        )


def publish(
    config: dict[str, Any], topic: str, messages: Iterable[Message], timeout_s: float = 30.0
) -> int:
    """Send (key, value, headers) messages and wait until the broker acknowledged all of them."""
    with Publisher(config, topic, timeout_s) as publisher:
        publisher.send(messages)
        return publisher.finish()


class GroupCommitter:
    """Advances a consumer group's offsets for standard lag tooling, never backwards.

    Prepared ahead of time (connect, find the coordinator, read the current offsets) so that the
    commit itself, which must wait for the warehouse commit, is one short request.
    """

    def __init__(
        self, config: dict[str, Any], group_id: str, topic: str, partitions: list[int]
    ) -> None:
        self._consumer = _consumer(config, group_id=group_id)
        try:
            self._tps = {p: TopicPartition(topic, p) for p in partitions}
            self._consumer.assign(list(self._tps.values()))
            self.current = {p: self._consumer.committed(tp) for p, tp in self._tps.items()}
        except BaseException:
            self._consumer.close()
            raise

    def commit(self, ends: dict[int, int], metadata: str) -> dict[int, int]:
        """Commit `ends` where they are ahead of the group; returns the group's offsets."""
        advance = {
            self._tps[p]: OffsetAndMetadata(end, metadata, -1)
            for p, end in ends.items()
            if self.current[p] is None or end > self.current[p]
        }
        if advance:
            self._consumer.commit(advance)
        return {p: max(end, self.current[p] or 0) for p, end in ends.items()}

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> GroupCommitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def committed_offsets(
    config: dict[str, Any], group_id: str, topic: str, partitions: list[int]
) -> dict[int, int | None]:
    consumer = _consumer(config, group_id=group_id)
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        return {tp.partition: consumer.committed(tp) for tp in tps}
    finally:
        consumer.close()
