"""One micro-batch, start to finish: read exact ranges, split, dead-letter, load, then commit.

Order matters for exactly-once: the warehouse transaction (events + DLQ rows + ledger) commits
first; only then are consumer-group offsets committed. A crash anywhere before the warehouse
commit leaves nothing behind (the sensor re-plans the range); a crash after it leaves the group
offset behind, and the re-run inserts nothing (rows are keyed by topic/partition/offset) and
moves the group offset forward.
"""

import time
from dataclasses import dataclass, field

from data_platform.lib import kafka_io, stream_store
from data_platform.lib.faults import fault_point
from data_platform.lib.kafka_offsets import PartitionRange
from data_platform.lib.order_batch import SplitBatch
from data_platform.lib.warehouse import utcnow
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource


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
    vectorised_validation: bool = False,
) -> BatchOutcome:
    """Load `ranges` of `topic`; the warehouse is held from the first read to the commit (one
    transaction), then released before the consumer-group commit."""
    started = time.perf_counter()
    config = kafka.bounded_config()
    kafka.ensure_topics()
    reader = kafka_io.RangeReader(config, topic, ranges)
    with warehouse.connect() as conn:
        stream_store.ensure_stream_schema(conn)
        already = stream_store.dead_letter_coordinates(conn, topic, ranges)
        transaction = stream_store.BatchTransaction(
            conn, topic, run_id, utcnow(), max_record_bytes, fast_path=vectorised_validation
        )
        try:
            for chunk in reader:
                transaction.add_records(chunk)
            batch = transaction.drain()
            # Published before the warehouse commit: the DLQ topic is at-least-once (a crash in
            # between re-publishes on the re-run; consumers dedupe on the dlq.source_* headers).
            published = kafka_io.publish(
                config,
                kafka.dlq_topic,
                [
                    (rec.key, rec.value, kafka_io.dlq_headers(rec, err.code, err.message))
                    for rec, err in batch.dead_records
                    if (rec.partition, rec.offset) not in already
                ],
            )
        except BaseException:
            transaction.abort()
            raise
        counts = transaction.commit(ranges)
        ledger = stream_store.ledger_rows(conn, topic)
    highwaters = reader.highwaters
    fault_point("microbatch.after_warehouse_commit")
    ends = {r.partition: r.end for r in ranges if r.size}
    committed = kafka_io.commit_offsets(config, kafka.consumer_group, topic, ends, run_id)
    fault_point("microbatch.after_kafka_commit")
    return BatchOutcome(
        topic,
        ranges,
        batch,
        counts,
        highwaters,
        ledger,
        published,
        committed,
        time.perf_counter() - started,
    )
