"""One micro-batch, start to finish: read exact ranges, split, dead-letter, load, then commit.

Order matters for exactly-once: the warehouse transaction (events + DLQ rows + ledger) commits
first; only then are consumer-group offsets committed. A crash anywhere before the warehouse
commit leaves nothing behind (the sensor re-plans the range); a crash after it leaves the group
offset behind, and the re-run inserts nothing (rows are keyed by topic/partition/offset) and
moves the group offset forward.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from data_platform.lib import kafka_io, kafka_wire, stream_store
from data_platform.lib.faults import fault_point
from data_platform.lib.kafka_offsets import PartitionRange
from data_platform.lib.order_batch import SplitBatch, split_records
from data_platform.lib.order_events import EventError
from data_platform.lib.record_batches import KafkaRecord
from data_platform.lib.warehouse import utcnow
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource

EVENTS_PER_INSERT = 20_000


@dataclass
class BatchOutcome:
    topic: str
    ranges: list[PartitionRange]
    batch: SplitBatch
    counts: stream_store.LoadCounts
    highwaters: dict[int, int]
    ledger: list[tuple[int, int, int]]
    dlq_published: int
    committed: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0


def run_batch(
    kafka: KafkaResource,
    warehouse: WarehouseResource,
    topic: str,
    ranges: list[PartitionRange],
    run_id: str,
    max_record_bytes: int,
) -> BatchOutcome:
    """Load `ranges` of `topic`: the warehouse is held from the first insert to the commit (one
    transaction), then released before the consumer-group commit."""
    started = time.perf_counter()
    config = kafka.bounded_config()
    ends = {r.partition: r.end for r in ranges if r.size}
    kafka.ensure_topics()
    with (
        kafka_io.GroupCommitter(config, kafka.consumer_group, topic, list(ends)) as group,
        kafka_io.Publisher(config, kafka.dlq_topic) as dead_letters,
    ):
        reader = kafka_wire.RangeFetcher(config, topic, ranges)
        with warehouse.connect() as conn:
            stream_store.ensure_stream_schema(conn)
            transaction = stream_store.BatchTransaction(conn, topic, ranges, run_id, utcnow())
            try:
                batch = _read_into(reader, transaction, dead_letters, max_record_bytes)
                published = dead_letters.finish()
            except BaseException:
                transaction.abort()
                raise
            counts = transaction.commit(batch.dead_table())
            ledger = stream_store.ledger_rows(conn, topic)
        fault_point("microbatch.after_warehouse_commit")
        committed = group.commit(ends, run_id)
    fault_point("microbatch.after_kafka_commit")
    return BatchOutcome(
        topic,
        ranges,
        batch,
        counts,
        reader.highwaters,
        ledger,
        published,
        committed,
        time.perf_counter() - started,
    )


def _read_into(
    reader: kafka_wire.RangeFetcher,
    transaction: stream_store.BatchTransaction,
    dead_letters: kafka_io.Publisher,
    max_record_bytes: int,
) -> SplitBatch:
    """Validate every record read; valid events go to the transaction in large chunks, dead
    letters to the DLQ topic as they are found."""
    batch = SplitBatch()
    sent = 0
    for records in reader:
        split_records(records, max_record_bytes, batch)
        if batch.pending_events >= EVENTS_PER_INSERT:
            transaction.insert_events(batch.drain_events())
        dead_letters.send(_dlq_messages(batch.dead_records[sent:], transaction))
        sent = len(batch.dead_records)
    fault_point("microbatch.before_last_insert")
    transaction.insert_events(batch.drain_events())
    return batch


def _dlq_messages(
    dead: list[tuple[KafkaRecord, EventError]], transaction: stream_store.BatchTransaction
) -> Iterator[kafka_io.Message]:
    """Dead letters for the DLQ topic, acknowledged before the warehouse commit. The topic is
    at-least-once: a crash in between publishes them again on the re-run (consumers dedupe on
    the dlq.source_* headers); offsets an earlier batch already loaded are not published again."""
    for rec, err in dead:
        if not transaction.is_loaded(rec.partition, rec.offset):
            yield rec.key, rec.value, kafka_io.dlq_headers(rec, err.code, err.message)
