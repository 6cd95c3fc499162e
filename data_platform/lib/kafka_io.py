"""Broker I/O for the order-event micro-batches, with kafka-python and hard time limits.

Two broker facts shape this module (see ENVIRONMENT.md): ListOffsets(latest) may under-report,
so "how much is there" comes from the high watermark a Fetch response carries; and group
membership (`subscribe`) is slow, so reads use assign + seek and commits name their offsets.
Every client gets an explicit `api_version` (no version probing) and short bootstrap timeouts,
so an unreachable broker fails in seconds instead of hanging.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from data_platform.lib.kafka_offsets import PartitionRange

POLL_MS = 200
MAX_POLL_RECORDS = 50_000


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached (or did not answer) within the time limit."""


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
    check_reachable(config["bootstrap_servers"], 2.0)
    return KafkaConsumer(enable_auto_commit=False, auto_offset_reset="none", **config, **extra)


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


class RangeReader:
    """Iterate the records of `ranges` chunk by chunk (lists in offset order per partition);
    `highwaters` holds the high watermarks seen once iteration finished.

    Fails (naming the partition and position) if a range cannot be read completely, rather than
    loading part of a batch.
    """

    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        ranges: list[PartitionRange],
        idle_timeout_s: float = 15.0,
        chunk_records: int = 10_000,
    ) -> None:
        self.config, self.topic, self.idle_timeout_s = config, topic, idle_timeout_s
        self.wanted = {r.partition: r for r in ranges if r.size}
        self.chunk_records = chunk_records
        self.highwaters: dict[int, int] = {}

    def __iter__(self) -> Iterator[list[Any]]:
        if not self.wanted:
            return
        wanted = self.wanted
        consumer = _consumer(
            self.config,
            fetch_max_wait_ms=50,  # do not idle at a range's end waiting for newer records
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        try:
            tps = _seek(consumer, self.topic, {p: r.start for p, r in wanted.items()})
            done: set[int] = set()
            deadline = time.monotonic() + self.idle_timeout_s
            while len(done) < len(wanted):
                polled = consumer.poll(timeout_ms=POLL_MS, max_records=self.chunk_records)
                for tp, records in sorted(polled.items()):
                    end = wanted[tp.partition].end
                    if records[-1].offset >= end:
                        records = [r for r in records if r.offset < end]
                    if records:
                        yield records
                    deadline = time.monotonic() + self.idle_timeout_s
                for tp in tps:
                    position = consumer.position(tp)
                    if tp.partition not in done and position >= wanted[tp.partition].end:
                        done.add(tp.partition)
                        consumer.pause(tp)
                if len(done) < len(wanted) and time.monotonic() > deadline:
                    stuck = {tp.partition: consumer.position(tp) for tp in tps
                             if tp.partition not in done}  # fmt: skip
                    ends = {p: wanted[p].end for p in stuck}
                    raise BrokerUnavailable(
                        f"{self.topic}: could not read planned ranges within "
                        f"{self.idle_timeout_s:.0f}s of inactivity; stuck at positions {stuck} "
                        f"(ends {ends})"
                    )
            self.highwaters = {tp.partition: int(consumer.highwater(tp) or 0) for tp in tps}
        finally:
            consumer.close()


def read_ranges(
    config: dict[str, Any], topic: str, ranges: list[PartitionRange], idle_timeout_s: float = 15.0
) -> tuple[list[Any], dict[int, int]]:
    """Every record of `ranges` in (partition, offset) order, plus the high watermarks seen."""
    reader = RangeReader(config, topic, ranges, idle_timeout_s)
    records = sorted((r for chunk in reader for r in chunk), key=lambda r: (r.partition, r.offset))
    return records, reader.highwaters


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


def publish(
    config: dict[str, Any],
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]],
    timeout_s: float = 30.0,
) -> int:
    """Send (key, value, headers) messages and wait until the broker acknowledged all of them."""
    messages = list(messages)
    if not messages:
        return 0
    check_reachable(config["bootstrap_servers"], 2.0)
    producer = KafkaProducer(acks="all", linger_ms=5, max_block_ms=int(timeout_s * 1000), **config)
    try:
        futures = [producer.send(topic, key=k, value=v, headers=h) for k, v, h in messages]
        producer.flush(timeout=timeout_s)
        for future in futures:
            future.get(timeout=timeout_s)
        return len(futures)
    finally:
        producer.close(timeout=5)


def commit_offsets(
    config: dict[str, Any], group_id: str, topic: str, ends: dict[int, int], metadata: str
) -> dict[int, int]:
    """Advance the consumer group to `ends` (never backwards) for standard lag tooling."""
    consumer = _consumer(config, group_id=group_id)
    try:
        tps = {p: TopicPartition(topic, p) for p in ends}
        consumer.assign(list(tps.values()))
        current = {p: consumer.committed(tp) for p, tp in tps.items()}
        advance = {
            tps[p]: OffsetAndMetadata(end, metadata, -1)
            for p, end in ends.items()
            if current[p] is None or end > current[p]
        }
        if advance:
            consumer.commit(advance)
        return {p: max(end, current[p] or 0) for p, end in ends.items()}
    finally:
        consumer.close()


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
