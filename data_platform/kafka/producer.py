"""Publishing keyed records with kafka-python, for demos, tests and load (the data path's own
dead letters go through `client.Publisher` on librdkafka)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from kafka import KafkaProducer


class KeyedRecord(Protocol):
    """What `produce` sends of a record: its key and value bytes (None passes as null)."""

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


R = TypeVar("R", bound=KeyedRecord)


def produce(
    config: dict[str, Any],
    topic: str,
    records: Iterable[R],
    rate: float | None = None,
    timeout_s: float = 60.0,
) -> list[tuple[int, int, R]]:
    """Send records keyed by customer, at most `rate` per second when given; returns
    (partition, offset, record) for each once the broker acknowledged everything."""
    producer = KafkaProducer(
        acks="all",
        linger_ms=10,
        batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
        max_block_ms=int(timeout_s * 1000),
        **config,
    )
    sent = []
    started = time.monotonic()
    try:
        for i, record in enumerate(records):
            if rate:
                ahead = i / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            sent.append((producer.send(topic, key=record.key, value=record.value), record))
        producer.flush(timeout=timeout_s)
        out = []
        for future, record in sent:
            meta = future.get(timeout=timeout_s)
            out.append((meta.partition, meta.offset, record))
        return out
    finally:
        producer.close(timeout=5)
