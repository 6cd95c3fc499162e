"""One micro-batch, start to finish: read exact ranges, split, load, commit, then publish.

Order matters for exactly-once: the warehouse transaction (events + DLQ rows + ledger) commits
first. Only then are dead letters published to the DLQ topic (the committed rows not yet
published, so a failing or retried batch publishes nothing and a record is published once) and
consumer-group offsets committed. A crash anywhere before the warehouse commit leaves nothing
behind (the sensor re-plans the range); a crash after it leaves the DLQ rows unpublished and
the group offset behind, and the next batch publishes them and moves the group offset forward.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb

from data_platform.faults import fault_point
from data_platform.kafka import client
from data_platform.kafka.ranges import PartitionRange
from data_platform.kafka.reachability import BrokerUnavailable
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch import stream_store
from data_platform.streaming.microbatch.dlq_contents import DlqContents, dlq_contents
from data_platform.streaming.microbatch.order_batch import (
    SplitBatch,
    dead_letter_span,
    split_messages,
)
from data_platform.warehouse import ConflictRetries, retry_conflicts, utcnow

LOG = logging.getLogger(__name__)
EVENTS_PER_INSERT = 20_000


@dataclass
class MicroBatchOutcome:
    """What one micro-batch run did, for its materialization metadata and checks."""

    topic: str
    ranges: list[PartitionRange]
    read_ranges: list[PartitionRange]
    batch: SplitBatch
    counts: stream_store.LoadCounts
    highwaters: dict[int, int]
    ledger: list[tuple[int, int, int]]
    dlq_published: int
    dlq_unpublished: int
    dlq: DlqContents
    committed: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    latency: stream_store.BatchLatency = field(
        default_factory=lambda: stream_store.BatchLatency(None, None, None)
    )
    conflict_retries: int = 0


def run_batch(
    kafka: KafkaResource,
    warehouse: WarehouseResource,
    topic: str,
    ranges: list[PartitionRange],
    run_id: str,
    max_record_bytes: int,
) -> MicroBatchOutcome:
    """Load `ranges` of `topic`: the warehouse is held from the first insert to the DLQ
    publish, then released before the consumer-group commit. A lake commit conflict re-reads
    the ranges and loads them again in a fresh transaction (bounded, counted)."""
    started = time.perf_counter()
    config = kafka.librdkafka_config()
    partitions = sorted(r.partition for r in ranges if r.size)
    kafka.ensure_topics()
    conflicts = ConflictRetries()
    with (
        client.GroupCommitter(config, kafka.consumer_group, topic, partitions) as group,
        client.Publisher(config, kafka.dlq_topic).start() as dead_letters,
    ):
        with warehouse.connect() as conn:
            stream_store.ensure_stream_schema(conn)

            def load() -> tuple[
                client.RangeReader, SplitBatch, stream_store.LoadCounts, stream_store.BatchLatency
            ]:
                reader = client.RangeReader(config, topic, ranges)
                transaction = stream_store.BatchTransaction(conn, topic, ranges, run_id, utcnow())
                try:
                    batch = _read_into(reader, transaction, topic, max_record_bytes)
                except BaseException:
                    transaction.abort()
                    raise
                counts = transaction.commit(batch.dead_table(), reader.read)
                return reader, batch, counts, transaction.latency(utcnow())

            with gc_paused():
                reader, batch, counts, latency = retry_conflicts(
                    load, f"micro-batch {topic}", conflicts, log=LOG
                )
            ledger = stream_store.ledger_rows(conn, topic)
            fault_point("microbatch.after_warehouse_commit")
            published, unpublished = publish_dead_letters(dead_letters, conn, topic)
            contents = dlq_contents(conn)
        committed = group.commit({r.partition: r.end for r in reader.read}, run_id)
    fault_point("microbatch.after_kafka_commit")
    return MicroBatchOutcome(
        topic,
        ranges,
        reader.read,
        batch,
        counts,
        reader.highwaters,
        ledger,
        published,
        unpublished,
        contents,
        committed,
        time.perf_counter() - started,
        latency,
        conflicts.count,
    )


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a batch is read: its hundreds of thousands of
    fresh objects (messages, parsed documents) would otherwise set off full collections that
    walk every object of the process (Dagster's included), ~25% of the step's time. Reference
    counting still frees them; the collector resumes, as it was, afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read_into(
    reader: client.RangeReader,
    transaction: stream_store.BatchTransaction,
    topic: str,
    max_record_bytes: int,
) -> SplitBatch:
    """Validate every record read; valid events go to the transaction in large chunks."""
    batch = SplitBatch()
    for messages in reader:
        split_messages(messages, max_record_bytes, batch)
        if batch.pending_events >= EVENTS_PER_INSERT:
            transaction.insert_events(batch.drain_events())
    for span in reader.undecodable:
        dead_letter_span(batch, topic, span)
    fault_point("microbatch.before_last_insert")
    transaction.insert_events(batch.drain_events())
    return batch


def dlq_headers(letter: stream_store.DeadLetter) -> list[tuple[str, bytes | None]]:
    """Reason and source coordinates first, then the record's own headers as they were."""
    own = [(k, v) for k, v in letter.original_headers() if not k.startswith("dlq.")]
    stamp = letter.kafka_timestamp
    return [
        ("dlq.error_code", letter.error_code.encode()),
        ("dlq.error_message", letter.error_message.encode()),
        ("dlq.source_topic", letter.topic.encode()),
        ("dlq.source_partition", str(letter.partition).encode()),
        ("dlq.source_offset", str(letter.offset).encode()),
        ("dlq.source_timestamp", str(int(stamp.timestamp() * 1000) if stamp else -1).encode()),
        *own,
    ]


def _dlq_messages(letters: list[stream_store.DeadLetter]) -> Iterator[client.OutgoingMessage]:
    for letter in letters:
        yield letter.key, letter.payload, dlq_headers(letter)


def publish_dead_letters(
    publisher: client.Publisher, conn: duckdb.DuckDBPyConnection, topic: str
) -> tuple[int, int]:
    """Publish the committed dead letters of `topic` not yet on the DLQ topic and stamp them;
    returns (published, still unpublished). A DLQ topic that cannot be reached does not fail
    the batch (its rows are committed): the next batch publishes them."""
    letters = stream_store.unpublished(conn, topic)
    if not letters:
        return 0, 0
    try:
        publisher.send(_dlq_messages(letters))
        published = publisher.finish()
    except BrokerUnavailable as exc:
        LOG.warning(
            "%d dead letter(s) not published to %s yet: %s", len(letters), publisher.topic, exc
        )
        return 0, len(letters)
    fault_point("microbatch.after_dlq_publish")
    stream_store.mark_published(conn, letters, utcnow())
    return published, 0
