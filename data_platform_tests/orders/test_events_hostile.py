"""Hostile input cannot make the event validator raise: arbitrary bytes and arbitrary JSON (deep
nesting, huge and non-finite numbers, every date and zone edge, odd Unicode, duplicate keys) each
come back as an OrderEvent that loads into the events table, or as a dead letter with a reason."""

from __future__ import annotations

import itertools
import json
import string
from collections import Counter
from datetime import datetime, timedelta, timezone

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_platform.orders import events as oe
from data_platform.streaming.microbatch import order_batch, stream_store

PROPERTY = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _assert_verdict(value: bytes | None, conn: duckdb.DuckDBPyConnection) -> object:
    """The contract: no exception; an event loads into stream.orders_events, an error is named."""
    result = oe.validate_value(value)
    if isinstance(result, oe.EventError):
        assert result.code in oe.DLQ_REASONS, result
        assert result.message
        result.message.encode("utf-8")  # storable in the DLQ's VARCHAR column
        return result
    assert isinstance(result, oe.OrderEvent), result
    _load_events(conn, [result])
    return result


def _load_events(conn: duckdb.DuckDBPyConnection, events: list[oe.OrderEvent]) -> None:
    """Through the real Arrow schema and the real table DDL, as a micro-batch inserts them."""
    batch = order_batch.SplitBatch()
    for offset, event in enumerate(events):
        for name, value in zip(oe.OrderEvent._fields, event, strict=True):
            batch.events[name].append(value)
        batch.events["topic"].append("orders")
        batch.events["partition"].append(0)
        batch.events["offset"].append(offset)
        batch.events["kafka_timestamp"].append(-1)
    table = batch.drain_events()
    assert table.schema == order_batch.EVENT_SCHEMA
    conn.register("incoming", table)
    try:
        conn.execute(f"INSERT INTO {stream_store.EVENTS} SELECT *, 'run', now() FROM incoming")
    finally:
        conn.unregister("incoming")


@pytest.fixture(scope="module")
def conn():
    with duckdb.connect() as connection:
        stream_store.ensure_stream_schema(connection)
        yield connection


# Timestamps around every edge: the ends of the calendar with the widest offsets, leap days,
# odd separators and precisions, zone spellings, and strings that only look like timestamps.
_ZONES = ["Z", "z", "+00:00", "-00:00", "+14:00", "-14:00", "+23:59", "-23:59", "+05:45",
          "+0530", "+05", "+24:00", "", " UTC", "+00:00:30", "+00:00:30.5"]  # fmt: skip
_DATES = ["0001-01-01", "9999-12-31", "2024-02-29", "2023-02-29", "1970-01-01", "2038-01-19",
          "0000-01-01", "10000-01-01", "2024-13-01", "2024-00-10", "20240301", "2024-W09-5",
          "2024-061"]  # fmt: skip
_SEPARATORS = ["T", " ", "t", "_", ""]
_TIMES = ["00:00:00", "23:59:59", "23:59:60", "24:00:00", "10:15", "10", "10:15:00.1",
          "10:15:00.123456", "10:15:00.1234567", "10:15:00,5", "101500"]  # fmt: skip
timestamps = st.one_of(
    st.builds(
        lambda d, sep, t, z: f"{d}{sep}{t}{z}",
        st.sampled_from(_DATES),
        st.sampled_from(_SEPARATORS),
        st.sampled_from(_TIMES),
        st.sampled_from(_ZONES),
    ),
    st.datetimes(timezones=st.timezones() | st.just(timezone(timedelta(hours=14)))).map(
        datetime.isoformat
    ),
    st.datetimes().map(datetime.isoformat),
    st.text(max_size=40),
)
_ODD_STRINGS = ["", " ", "\u0000", "\u200b", "\ufeff", "\U0001f600", "e\u0301", "\ud800",
                "\udfff", "\x7f", "\u2028", "a" * 2000]  # fmt: skip
odd_text = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(codec=None, categories=None), max_size=20),
    st.sampled_from(_ODD_STRINGS),
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**70),
    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, 2**64, -(2**64), 10**400]),
    st.booleans(),
)
json_leaves = st.one_of(st.none(), st.booleans(), numbers, odd_text)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(odd_text, children, max_size=4)
    ),
    max_leaves=20,
)
# An event whose every field may be valid, hostile or absent.
events = st.fixed_dictionaries(
    {},
    optional={
        "order_id": st.one_of(odd_text, json_values),
        "customer_id": st.one_of(odd_text, json_values),
        "amount": st.one_of(numbers, json_values),
        "currency": st.one_of(st.sampled_from(["USD", "EUR"]), odd_text),
        "event_time": st.one_of(timestamps, json_values),
        "extra": json_values,
    },
)


def _dumps(doc: object) -> bytes:
    """JSON as a hostile producer writes it: NaN/Infinity literals, lone surrogates escaped."""
    return json.dumps(doc, allow_nan=True).encode("utf-8")


@PROPERTY
@given(value=st.one_of(st.binary(max_size=300), st.none()))
def test_arbitrary_bytes(conn, value: bytes | None) -> None:
    _assert_verdict(value, conn)


@PROPERTY
@given(doc=json_values)
def test_arbitrary_json(conn, doc: object) -> None:
    _assert_verdict(_dumps(doc), conn)


@PROPERTY
@given(doc=events)
def test_event_shaped_json(conn, doc: dict) -> None:
    _assert_verdict(_dumps(doc), conn)


@PROPERTY
@given(event_time=timestamps)
def test_every_timestamp_edge(conn, event_time: str) -> None:
    doc = {"order_id": "o", "customer_id": "c", "amount": 1.5, "currency": "USD"}
    result = _assert_verdict(_dumps({**doc, "event_time": event_time}), conn)
    if isinstance(result, oe.OrderEvent):
        assert result.event_time.tzinfo == timezone.utc


def test_every_combination_of_the_timestamp_edges(conn) -> None:
    """Exhaustively: each date edge x time x separator x zone (11,440 strings), one load."""
    doc = {"order_id": "o", "customer_id": "c", "amount": 1.5, "currency": "USD"}
    accepted, codes = [], Counter()
    for day, sep, time, zone in itertools.product(_DATES, _SEPARATORS, _TIMES, _ZONES):
        result = oe.validate_value(_dumps({**doc, "event_time": f"{day}{sep}{time}{zone}"}))
        if isinstance(result, oe.OrderEvent):
            accepted.append(result)
        else:
            codes[result.code] += 1
    _load_events(conn, accepted)
    assert set(codes) == {oe.BAD_TIMESTAMP, oe.TIMESTAMP_WITHOUT_ZONE}
    assert min(e.event_time for e in accepted) == datetime(1, 1, 1, 0, 0, tzinfo=timezone.utc)
    assert max(e.event_time for e in accepted).year == 9999


@PROPERTY
@given(
    depth=st.integers(min_value=900, max_value=40_000),
    opener=st.sampled_from(["[", '{"a":', '{"order_id": ']),
    closed=st.booleans(),
)
def test_deep_nesting(conn, depth: int, opener: str, closed: bool) -> None:
    closer = {"[": "]", '{"a":': "}", '{"order_id": ': "}"}[opener]
    value = (opener * depth + "1" + (closer * depth if closed else "")).encode()
    result = _assert_verdict(value, conn)
    assert isinstance(result, oe.EventError)


@PROPERTY
@given(
    keys=st.lists(st.sampled_from(["order_id", "amount", "event_time", "currency"]), max_size=6),
    values=st.lists(json_leaves, min_size=6, max_size=6),
)
def test_duplicate_keys(conn, keys: list[str], values: list[object]) -> None:
    base = '"order_id": "o", "customer_id": "c", "amount": 1, "currency": "USD", '
    base += '"event_time": "2024-03-01T10:15:00Z"'
    extra = "".join(
        f", {json.dumps(k)}: {json.dumps(v, allow_nan=True)}"
        for k, v in zip(keys, values, strict=False)
    )
    _assert_verdict(("{" + base + extra + "}").encode(), conn)


@pytest.mark.parametrize(
    ("value", "code", "exception"),
    [
        (b"[" * 32_000, oe.NOT_JSON, "RecursionError"),
        (b'{"a":' * 32_000 + b"1" + b"}" * 32_000, oe.NOT_JSON, "RecursionError"),
        (
            b'{"order_id": "o", "customer_id": "c", "amount": 1, "currency": "USD", '
            b'"event_time": "0001-01-01T00:00:00+14:00"}',
            oe.BAD_TIMESTAMP,
            "OverflowError",
        ),
        (
            b'{"order_id": "o", "customer_id": "c", "amount": 1, "currency": "USD", '
            b'"event_time": "9999-12-31T23:59:59-14:00"}',
            oe.BAD_TIMESTAMP,
            "OverflowError",
        ),
    ],
    ids=["brackets", "objects", "year-1-east", "year-9999-west"],
)
def test_the_reported_hazards_are_named(value: bytes, code: str, exception: str) -> None:
    error = oe.validate_value(value, max_bytes=len(value))
    assert isinstance(error, oe.EventError) and error.code == code
    assert exception in error.message


def test_an_exception_inside_a_validator_becomes_that_records_dead_letter() -> None:
    """The catch-all keeps the exception type, bounds the message and keeps it storable."""
    error = oe.unexpected_error(MemoryError("x\ud800" * 500))
    assert error.code == oe.VALIDATION_ERROR and error.code in oe.DLQ_REASONS
    assert error.message.startswith("value: validation raised MemoryError: x\\ud800")
    assert len(error.message) <= oe.MESSAGE_LIMIT + len("value: ")
    error.message.encode("utf-8")


def test_every_reason_is_a_plain_code() -> None:
    allowed = set(string.ascii_lowercase + string.digits + "_")
    assert all(set(code) <= allowed for code in oe.DLQ_REASONS)
    assert len(set(oe.DLQ_REASONS)) == len(oe.DLQ_REASONS)
