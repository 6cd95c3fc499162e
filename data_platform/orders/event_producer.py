"""Realistic order events and every kind of poison record, for demos, tests and load.

Records are (key, value) byte pairs following the contract in `order_events`; poison kinds map
one-to-one to the validation error codes they must produce. `data_platform.kafka.producer`
sends them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from data_platform.orders import events as oe

CURRENCIES = ("USD", "EUR", "GBP")
CUSTOMER_COUNT = 5_000


@dataclass(frozen=True)
class ProducedRecord:
    key: bytes | None
    value: bytes | None
    poison: str | None  # the error code validation must report, None when valid


def _event(rng: random.Random, seq: int, now: datetime, late: bool) -> dict:
    lateness = timedelta(minutes=rng.randint(15, 120)) if late else timedelta(0)
    event_time = now - lateness + timedelta(milliseconds=seq)
    return {
        "order_id": f"ord-{seq:09d}-{rng.randrange(16**6):06x}",
        "customer_id": f"cust-{rng.randrange(CUSTOMER_COUNT):05d}",
        "amount": round(rng.uniform(1, 2500), 2),
        "currency": rng.choice(CURRENCIES),
        "event_time": event_time.isoformat(timespec="milliseconds"),
    }


def _dumps(doc: object) -> bytes:
    return json.dumps(doc).encode("utf-8")


def _poison(kind: str, doc: dict, max_bytes: int) -> bytes | None:
    """The value bytes of one poison record of `kind` (built from an otherwise valid event)."""
    broken = dict(doc)
    if kind == oe.TOMBSTONE:
        return None
    if kind == oe.OVERSIZED:
        broken["padding"] = "x" * (max_bytes + 1)
        return _dumps(broken)
    if kind == oe.NOT_UTF8:
        return b"\xff\xfe" + _dumps(doc)[2:]
    if kind == oe.NOT_JSON:
        return b"order_id=" + doc["order_id"].encode() + b";amount=12"
    if kind == oe.NOT_OBJECT:
        return _dumps([doc]) if doc["amount"] > 1250 else _dumps(doc["amount"])
    if kind == oe.MISSING_FIELD:
        del broken["order_id"]
    elif kind == oe.WRONG_TYPE:
        broken["amount"] = str(doc["amount"])
    elif kind == oe.EMPTY_FIELD:
        broken["customer_id"] = ""
    elif kind == oe.NEGATIVE_AMOUNT:
        broken["amount"] = -doc["amount"]
    elif kind == oe.NON_FINITE_AMOUNT:
        return _dumps(doc).replace(f'"amount": {doc["amount"]}'.encode(), b'"amount": NaN')
    elif kind == oe.BAD_TIMESTAMP:
        broken["event_time"] = "yesterday at noon"
    elif kind == oe.TIMESTAMP_WITHOUT_ZONE:
        broken["event_time"] = doc["event_time"][:23]
    else:
        raise ValueError(f"unknown poison kind {kind!r}; expected one of {oe.ERROR_CODES}")
    return _dumps(broken)


def generate(
    count: int,
    invalid_rate: float = 0.0,
    late_rate: float = 0.0,
    seed: int = 0,
    max_bytes: int = oe.DEFAULT_MAX_RECORD_BYTES,
    now: datetime | None = None,
) -> Iterator[ProducedRecord]:
    """`count` records; every `1/invalid_rate`-th is poison, cycling through all poison kinds."""
    if not 0 <= invalid_rate <= 1 or not 0 <= late_rate <= 1:
        raise ValueError("invalid_rate and late_rate must be shares between 0 and 1")
    rng = random.Random(seed)
    now = now or datetime.now(timezone.utc)
    poison_every = round(1 / invalid_rate) if invalid_rate else 0
    poison_seen = 0
    for seq in range(count):
        doc = _event(rng, seq, now, late=rng.random() < late_rate)
        key = doc["customer_id"].encode()
        if poison_every and seq % poison_every == poison_every - 1:
            kind = oe.ERROR_CODES[poison_seen % len(oe.ERROR_CODES)]
            poison_seen += 1
            yield ProducedRecord(key, _poison(kind, doc, max_bytes), kind)
        else:
            yield ProducedRecord(key, _dumps(doc), None)
