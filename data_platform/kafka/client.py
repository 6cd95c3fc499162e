"""The Kafka data path on librdkafka (confluent-kafka): exact offset-range reads, the sensor's
end-offset probe, dead-letter publishing and consumer-group commits.

Broker facts that shape it (see the README's Kafka page): ListOffsets may under-report on some
brokers (tansu here), so "how much is there" comes from what a Fetch reply carried, which
librdkafka caches (`get_watermark_offsets(cached=True)`); group membership is slow, so
consumers `assign` explicit offsets and commits name their offsets. A partition's read ends at a
record at or past its range end, or at librdkafka's end-of-partition event, whose offset is the
last stable offset under `read_committed`: ranges that end in a transaction marker, a compaction
gap or an open transaction finish without waiting. Batches librdkafka cannot decode (CRC
mismatch, corrupt compressed data) are skipped and reported, never retried forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import numpy as np
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from data_platform.kafka.ranges import PartitionRange
from data_platform.kafka.reachability import BrokerUnavailable, check_reachable

LOG = logging.getLogger(__name__)
Headers = list[tuple[str, bytes | None]]

# librdkafka settings for short bounded reads: no 1 s queue backoff at a range's end
# (fetch.queue.backoff.ms), no long broker wait at the log end, CRCs checked.
READ_SETTINGS: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": True,
    "auto.offset.reset": "error",
    "fetch.queue.backoff.ms": 0,
    "fetch.wait.max.ms": 50,
    "fetch.error.backoff.ms": 50,
    "check.crcs": True,
    "retry.backoff.ms": 10,
    "reconnect.backoff.ms": 10,
    "log.connection.close": False,  # a broker closing an idle connection is no news
}
# Errors librdkafka reports for a batch it received but cannot turn into records.
UNDECODABLE = {KafkaError._BAD_MSG, KafkaError._BAD_COMPRESSION, KafkaError._NOT_IMPLEMENTED}
_CONSUME_BATCH = 10_000
_POLL_S = 0.05


class RangeUnavailable(RuntimeError):
    """A planned range cannot be read: the broker no longer (or not yet) has those offsets."""


class KafkaRecord(NamedTuple):
    """One record as a whole, for the few places that need one (dead letters, the Spark rows)."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # ms since the epoch, -1 when absent
    key: bytes | None
    value: bytes | None
    headers: Headers


def record_of(message: Message) -> KafkaRecord:
    """The record a consumed message holds (never an error event, which has no position)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError(f"not a record but an event without a position: {message.error()}")
    _, timestamp = message.timestamp()
    # A consumed message's headers are a list of (str, bytes | None); the stubs' type also
    # covers the dict and str values a producer accepts.
    headers = cast(Headers, message.headers() or [])
    return KafkaRecord(
        topic, partition, offset, timestamp, message.key(), message.value(), list(headers)
    )


def _offset(message: Message) -> int:
    """The message's offset, -1 where it has none (the binding gives None for a negative
    offset, which only an error event can carry)."""
    offset = message.offset()
    return -1 if offset is None else offset


@dataclass(frozen=True)
class UndecodableSpan:
    """Offsets `[start, end)` of one partition that held a batch librdkafka could not decode."""

    partition: int
    start: int
    end: int
    reason: str


def _logger(name: str) -> logging.Logger:
    """librdkafka's own log lines (e.g. a broker closing an idle connection) go to Python logging
    at their level instead of raw stderr."""
    return logging.getLogger(f"librdkafka.{name}")


def _bootstrap(config: dict[str, Any]) -> list[str]:
    return [s for s in str(config["bootstrap.servers"]).split(",") if s.strip()]


# Client-wide errors that no retry mends: reported by librdkafka through `error_cb`, never as a
# message, so each consumer raises them on its next `consume`.
_FATAL_CLIENT_ERRORS = {
    KafkaError._AUTHENTICATION,
    KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError._SSL,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}


class _Consumer(Consumer):
    """A Consumer whose `consume` raises BrokerUnavailable on an authentication or TLS error
    (librdkafka would otherwise retry silently until a caller's timeout)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.client_errors: list[KafkaError] = []
        super().__init__(
            {**settings, "error_cb": self.client_errors.append}, logger=_logger("consumer")
        )

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        messages = super().consume(num_messages, timeout)
        for error in self.client_errors:
            if error.code() in _FATAL_CLIENT_ERRORS or error.fatal():
                raise BrokerUnavailable(f"Kafka client error: {error.str()}")
        self.client_errors.clear()
        return messages


def new_consumer(config: dict[str, Any], **extra: Any) -> Consumer:
    """A consumer tuned for bounded reads; fails fast when no bootstrap server answers or the
    broker refuses its credentials."""
    check_reachable(_bootstrap(config), 2.0)
    return _Consumer({"group.id": "data-platform-reader", **READ_SETTINGS, **config, **extra})


def check_settings(config: dict[str, Any], group_id: str) -> None:
    """librdkafka's own verdict on every setting: a throwaway consumer, closed at once;
    ValueError naming what it refuses."""
    try:
        Consumer({**config, "group.id": group_id}).close()
    except (KafkaException, TypeError) as exc:
        raise ValueError(str(exc)) from exc


def watermarks(consumer: Consumer, topic: str, partition: int, timeout_s: float) -> tuple[int, int]:
    """The partition's (low, high) watermarks, asked of the broker."""
    return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)


def topic_partitions(consumer: Consumer, topic: str, timeout_s: float = 5.0) -> list[int]:
    """The topic's partition ids; BrokerUnavailable when the topic does not exist."""
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
    except KafkaException as exc:
        raise BrokerUnavailable(f"no metadata for topic {topic!r}: {exc}") from exc
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        detail = f" ({found.error})" if found is not None and found.error else ""
        raise BrokerUnavailable(f"topic {topic!r} does not exist on the broker{detail}")
    return sorted(found.partitions)


def probe_end_offsets(
    config: dict[str, Any], topic: str, starts: dict[int, int] | None, timeout_s: float
) -> dict[int, int]:
    """The readable end of each partition, from Fetch replies starting at `starts` (0 if None).

    The end is the end-of-partition offset when the first replies reach it (the last stable
    offset under read_committed), else the high watermark the replies carried; records read
    are discarded. Never from ListOffsets, which some brokers under-report.
    """
    consumer = new_consumer(config, **{"max.partition.fetch.bytes": 65536})
    try:
        partitions = topic_partitions(consumer, topic)
        starts = {p: (starts or {}).get(p, 0) for p in partitions}
        consumer.assign([TopicPartition(topic, p, o) for p, o in starts.items()])
        tps = {p: TopicPartition(topic, p) for p in partitions}
        ends: dict[int, int] = {}
        deadline = time.monotonic() + timeout_s
        while len(ends) < len(partitions):
            if time.monotonic() > deadline:
                missing = sorted(set(partitions) - set(ends))
                raise BrokerUnavailable(
                    f"no fetch reply for {topic} partitions {missing} within {timeout_s:.0f}s"
                )
            for message in consumer.consume(_CONSUME_BATCH, _POLL_S):
                error, partition = message.error(), message.partition()
                if error is None or error.code() in UNDECODABLE:
                    continue
                if partition is not None and error.code() == KafkaError._PARTITION_EOF:
                    ends.setdefault(partition, _offset(message))
                elif partition is not None and error.code() == KafkaError.OFFSET_OUT_OF_RANGE:
                    # A start past the log (a recreated topic): the caller compares the end.
                    consumer.seek(TopicPartition(topic, partition, OFFSET_BEGINNING))
                else:
                    _raise_for(error, topic)
            for p, tp in tps.items():
                if p not in ends:
                    _, high = consumer.get_watermark_offsets(tp, cached=True)
                    if high is not None and high >= 0:
                        ends[p] = high
        return ends
    finally:
        consumer.close()


def _raise_for(error: KafkaError, topic: str) -> None:
    """Turn a consumer error event into the exception its kind deserves (or ignore it)."""
    code = error.code()
    if code == KafkaError.OFFSET_OUT_OF_RANGE:
        raise RangeUnavailable(f"{topic}: {error.str()}")
    if error.fatal() or code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
        raise BrokerUnavailable(f"{topic}: {error.str()}")
    if code in (
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError._AUTHENTICATION,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError._SSL,
    ):
        raise BrokerUnavailable(f"{topic}: {error.str()}")
    LOG.debug("transient consumer error on %s: %s", topic, error.str())


def _all_inside(messages: list[Message], positions: dict[int, int], ends: dict[int, int]) -> bool:
    """Whether a chunk is the common case, records only and each partition's offsets rising
    from its position to before its end, so it is kept whole (advancing `positions`) without a
    loop over the messages in Python. Every other chunk takes the message-by-message path."""
    if any(map(Message.error, messages)):  # an event (end of partition, undecodable batch...)
        return False
    partitions = np.fromiter(map(Message.partition, messages), np.int64, len(messages))
    offsets = np.fromiter(map(Message.offset, messages), np.int64, len(messages))
    lasts = {}
    for partition in np.unique(partitions).tolist():
        mine = offsets[partitions == partition]
        if (
            partition not in positions
            or mine[0] < positions[partition]
            or mine[-1] >= ends[partition]
            or (np.diff(mine) <= 0).any()
        ):
            return False
        lasts[partition] = int(mine[-1])
    for partition, last in lasts.items():
        positions[partition] = last + 1
        if last >= ends[partition] - 1:
            del positions[partition]
    return True


class RangeReader:
    """The records of `ranges` of one topic, as lists of confluent-kafka messages (each within its
    range, offset order per partition). Afterwards `read` holds the ranges really covered (cut at
    the last stable offset where an open transaction ends the readable log), `highwaters` the
    partitions' high watermarks and `undecodable` the batches skipped.

    Fails, naming partitions and positions, rather than return part of a range: when no progress
    is made for `idle_timeout_s`, or when the broker no longer has an offset (retention).
    """

    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        ranges: list[PartitionRange],
        idle_timeout_s: float = 15.0,
    ) -> None:
        self.config, self.topic, self.idle_timeout_s = config, topic, idle_timeout_s
        self.wanted = {r.partition: r for r in ranges if r.size}
        self.highwaters: dict[int, int] = {}
        self.undecodable: list[UndecodableSpan] = []
        self.read: list[PartitionRange] = []
        self._skipped: set[tuple[int, str]] = set()

    def __iter__(self) -> Iterator[list[Message]]:
        ends = {p: r.end for p, r in self.wanted.items()}
        positions = {p: r.start for p, r in self.wanted.items()}
        if not positions:
            return
        consumer = new_consumer(self.config)
        try:
            consumer.assign([TopicPartition(self.topic, p, o) for p, o in positions.items()])
            deadline = time.monotonic() + self.idle_timeout_s
            while positions:
                messages = consumer.consume(_CONSUME_BATCH, _POLL_S)
                if not messages:
                    if time.monotonic() > deadline:
                        self._stuck(consumer, positions)
                    continue
                deadline = time.monotonic() + self.idle_timeout_s
                kept = self._take(consumer, messages, positions, ends)
                if kept:
                    yield kept
            self.read = [PartitionRange(p, r.start, ends[p]) for p, r in self.wanted.items()]
            self.highwaters = self._highwaters(consumer)
        finally:
            consumer.close()

    def _take(
        self,
        consumer: Consumer,
        messages: list[Message],
        positions: dict[int, int],
        ends: dict[int, int],
    ) -> list[Message]:
        """The messages inside their ranges; advances `positions`, drops finished partitions."""
        if _all_inside(messages, positions, ends):
            return messages
        kept = []
        for message in messages:
            partition = message.partition()
            if partition is None or partition not in positions:
                continue  # finished, queued before a skip, or a client-wide event
            offset = _offset(message)
            error = message.error()
            if error is None:
                if offset < positions[partition]:
                    continue
                if offset < ends[partition]:
                    kept.append(message)
                    positions[partition] = offset + 1
                if offset >= ends[partition] - 1:
                    del positions[partition]
            elif error.code() == KafkaError._PARTITION_EOF:
                if offset >= ends[partition]:
                    del positions[partition]
                elif offset >= positions[partition]:
                    ends[partition] = offset  # an open transaction: readable up to here
                    del positions[partition]
            elif error.code() in UNDECODABLE:
                if (partition, error.str()) in self._skipped or offset < positions[partition]:
                    continue  # queued before the skip
                # A batch that does not parse can carry a nonsense offset: it starts here,
                # unless a fresh read from here succeeds (the event was queued before a skip).
                start = offset if offset < ends[partition] else positions[partition]
                if start == positions[partition] and not self._fails_at(partition, start):
                    continue
                self._skipped.add((partition, error.str()))
                resume = self._skip_batch(partition, start, ends[partition], error.str())
                if resume >= ends[partition]:
                    del positions[partition]
                else:
                    positions[partition] = resume
                    consumer.seek(TopicPartition(self.topic, partition, resume))
            else:
                _raise_for(error, self.topic)
        return kept

    def _skip_batch(self, partition: int, start: int, end: int, reason: str) -> int:
        """Where the undecodable batch at `start` ends: the first offset from which a read no
        longer fails, found with a single-partition consumer by galloping then bisecting (a
        fetch from inside a batch returns the whole batch, so each probe costs one fetch)."""
        low, high, step = start, end, 1  # a read from `low` fails; one from `high` does not
        while low + step < end:
            if not self._fails_at(partition, low + step):
                high = low + step
                break
            low, step = low + step, step * 2
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if self._fails_at(partition, middle) else (low, middle)
        LOG.warning(
            "%s/%d: offsets [%d, %d) are in a batch that cannot be decoded (%s); skipped",
            self.topic, partition, start, high, reason,
        )  # fmt: skip
        self.undecodable.append(UndecodableSpan(partition, start, high, reason))
        return high

    def _fails_at(self, partition: int, start: int) -> bool:
        """Whether a read from `start` begins with a decoding error."""
        consumer = new_consumer(self.config)
        try:
            consumer.assign([TopicPartition(self.topic, partition, start)])
            deadline = time.monotonic() + self.idle_timeout_s
            while time.monotonic() < deadline:
                for message in consumer.consume(1, _POLL_S):
                    error = message.error()
                    if error is None or error.code() == KafkaError._PARTITION_EOF:
                        return False
                    if error.code() in UNDECODABLE:
                        return True
                    _raise_for(error, self.topic)
            raise BrokerUnavailable(
                f"{self.topic}/{partition}: no fetch reply from offset {start} while locating "
                f"the end of an undecodable batch"
            )
        finally:
            consumer.close()

    def _highwaters(self, consumer: Consumer) -> dict[int, int]:
        marks = {}
        for p in self.wanted:
            _, high = consumer.get_watermark_offsets(TopicPartition(self.topic, p), cached=True)
            if high is not None and high >= 0:
                marks[p] = high
        return marks

    def _stuck(self, consumer: Consumer, positions: dict[int, int]) -> None:
        ends = {p: self.wanted[p].end for p in positions}
        marks = self._highwaters(consumer)
        raise BrokerUnavailable(
            f"{self.topic}: could not read planned ranges within {self.idle_timeout_s:.0f}s "
            f"of inactivity; stuck at positions {positions} (ends {ends}, high watermarks "
            f"{ {p: marks.get(p) for p in positions} })"
        )


OutgoingMessage = tuple[bytes | None, bytes | None, Headers]  # key, value, headers


class Publisher:
    """An idempotent producer: `send` queues (key, value, headers) messages, `finish` waits until
    the broker acknowledged every one and raises if any failed. Keys, values and header values
    may be None; they pass through as they are."""

    def __init__(self, config: dict[str, Any], topic: str, timeout_s: float = 30.0) -> None:
        self.config, self.topic, self.timeout_s = config, topic, timeout_s
        self._producer: Producer | None = None
        self._sent = 0
        self._errors: list[str] = []

    def start(self) -> Publisher:
        """Start the producer now: an idempotent producer first obtains its producer id (~0.5 s
        on a new connection), which then overlaps with the caller's other work."""
        if self._producer is None:
            self._producer = self._start()
        return self

    def send(self, messages: Iterable[OutgoingMessage]) -> None:
        for key, value, headers in messages:
            if self._producer is None:
                self._producer = self._start()
            while True:
                try:
                    self._producer.produce(
                        self.topic,
                        value=value,
                        key=key,
                        # The stubs want list[tuple[str, str | bytes | None]]: a list is
                        # invariant, so ours (bytes values only) does not match; it is valid.
                        headers=headers,  # type: ignore[arg-type]
                        on_delivery=self._ack,
                    )
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self._producer.poll(0.05)
            self._sent += 1

    def finish(self) -> int:
        """Block until every message sent so far is acknowledged; returns how many there were."""
        if self._producer is not None:
            left = self._producer.flush(self.timeout_s)
            if left:
                raise BrokerUnavailable(
                    f"{left} message(s) to {self.topic} not acknowledged within "
                    f"{self.timeout_s:.0f}s"
                )
        if self._errors:
            raise BrokerUnavailable(
                f"{len(self._errors)} message(s) to {self.topic} failed: {self._errors[0]}"
            )
        return self._sent

    def close(self) -> None:
        self._producer = None  # librdkafka's handle is released with the object

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ack(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._errors.append(error.str())

    def _start(self) -> Producer:
        check_reachable(_bootstrap(self.config), 2.0)
        settings = {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "batch.size": 1024 * 1024,
            # A dead letter is a record the source topic accepted: never refuse it on size here.
            "message.max.bytes": 16 * 1024 * 1024,
            "message.timeout.ms": int(self.timeout_s * 1000),
            "retry.backoff.ms": 10,
            **self.config,
        }
        settings.pop("isolation.level", None)  # a consumer setting
        return Producer(settings, logger=_logger("producer"))


def publish(
    config: dict[str, Any], topic: str, messages: Iterable[OutgoingMessage], timeout_s: float = 30.0
) -> int:
    """Send (key, value, headers) messages and wait until the broker acknowledged all of them."""
    with Publisher(config, topic, timeout_s) as publisher:
        publisher.send(messages)
        return publisher.finish()


class GroupCommitter:
    """Advances a consumer group's offsets for standard lag tooling, never backwards.

    Prepared ahead of time (connect, read the current offsets) so that the commit itself, which
    must wait for the warehouse commit, is one short request.
    """

    def __init__(
        self, config: dict[str, Any], group_id: str, topic: str, partitions: list[int]
    ) -> None:
        self.topic = topic
        self._consumer = new_consumer(config, **{"group.id": group_id})
        try:
            self.current = _committed(self._consumer, topic, partitions) if partitions else {}
        except BaseException:
            self._consumer.close()
            raise

    def commit(self, ends: dict[int, int], metadata: str) -> dict[int, int]:
        """Commit `ends` where they are ahead of the group; returns the group's offsets."""
        advance = [
            TopicPartition(self.topic, p, end, metadata=metadata)
            for p, end in ends.items()
            if self.current.get(p) is None or end > (self.current[p] or 0)
        ]
        if advance:
            for tp in self._consumer.commit(offsets=advance, asynchronous=False) or []:
                if tp.error is not None:
                    raise BrokerUnavailable(f"group commit of {tp} failed: {tp.error}")
        return {p: max(end, self.current.get(p) or 0) for p, end in ends.items()}

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> GroupCommitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _committed(consumer: Consumer, topic: str, partitions: list[int]) -> dict[int, int | None]:
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    except KafkaException as exc:
        raise BrokerUnavailable(f"could not read committed offsets of {topic}: {exc}") from exc
    return {tp.partition: tp.offset if tp.offset >= 0 else None for tp in found}


def committed_offsets(
    config: dict[str, Any], group_id: str, topic: str, partitions: list[int]
) -> dict[int, int | None]:
    """The group's committed offset per partition (None where it has none)."""
    consumer = new_consumer(config, **{"group.id": group_id})
    try:
        return _committed(consumer, topic, partitions)
    finally:
        consumer.close()
