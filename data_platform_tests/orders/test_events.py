"""Order-event validation: every poison kind gets its own code and a message naming the field."""

import json
from datetime import timezone

import pytest

from data_platform.orders import event_producer
from data_platform.orders import events as oe


def _valid(**overrides: object) -> bytes:
    doc = {
        "order_id": "o-1",
        "customer_id": "c-1",
        "amount": 12.5,
        "currency": "USD",
        "event_time": "2024-03-01T10:15:00+01:00",
    }
    doc.update(overrides)
    return json.dumps(doc).encode()


def test_valid_event_is_normalised_to_utc() -> None:
    event = oe.validate_value(_valid())
    assert isinstance(event, oe.OrderEvent)
    assert event.event_time.tzinfo == timezone.utc and event.event_time.hour == 9
    assert event.amount == 12.5 and event.order_id == "o-1"


def test_zulu_and_integer_amounts_are_valid() -> None:
    event = oe.validate_value(_valid(event_time="2024-03-01T10:15:00Z", amount=0))
    assert isinstance(event, oe.OrderEvent) and event.amount == 0.0


@pytest.mark.parametrize(
    ("value", "code", "field"),
    [
        (None, oe.TOMBSTONE, "value"),
        (b"\xff\xfe{}", oe.NOT_UTF8, "value"),
        (b"{not json", oe.NOT_JSON, "value"),
        (b"[1, 2]", oe.NOT_OBJECT, "value"),
        (b"42", oe.NOT_OBJECT, "value"),
        (_valid(order_id=None), oe.MISSING_FIELD, "'order_id'"),
        (_valid(order_id=7), oe.WRONG_TYPE, "'order_id'"),
        (_valid(customer_id="  "), oe.EMPTY_FIELD, "'customer_id'"),
        (_valid(amount="12.50"), oe.WRONG_TYPE, "'amount'"),
        (_valid(amount=True), oe.WRONG_TYPE, "'amount'"),
        (_valid(amount=-1), oe.NEGATIVE_AMOUNT, "'amount'"),
        (_valid().replace(b"12.5", b"Infinity"), oe.NON_FINITE_AMOUNT, "'amount'"),
        (_valid(event_time="soon"), oe.BAD_TIMESTAMP, "'event_time'"),
        (_valid(event_time=1709288100), oe.WRONG_TYPE, "'event_time'"),
        (_valid(event_time="2024-03-01T10:15:00"), oe.TIMESTAMP_WITHOUT_ZONE, "'event_time'"),
        (_valid(currency=None), oe.MISSING_FIELD, "'currency'"),
    ],
)
def test_poison_is_named(value: bytes | None, code: str, field: str) -> None:
    error = oe.validate_value(value)
    assert isinstance(error, oe.EventError)
    assert error.code == code
    assert field in error.message


def test_size_limit() -> None:
    error = oe.validate_value(_valid(pad="x" * 100), max_bytes=100)
    assert isinstance(error, oe.EventError) and error.code == oe.OVERSIZED
    assert "100-byte limit" in error.message


def test_generator_poison_matches_validation() -> None:
    """Each generated poison record fails with exactly the code it was generated for."""
    records = list(event_producer.generate(2_000, invalid_rate=0.02, late_rate=0.1, seed=3))
    poison = [r for r in records if r.poison]
    assert len(poison) == 40
    assert {r.poison for r in poison} == set(oe.ERROR_CODES)
    for record in records:
        result = oe.validate_value(record.value)
        if record.poison:
            assert isinstance(result, oe.EventError) and result.code == record.poison, record
        else:
            assert isinstance(result, oe.OrderEvent), result
            assert record.key == result.customer_id.encode()


BASE = {"order_id": "o-1", "customer_id": "c-1", "amount": 12.5, "currency": "USD",
        "event_time": "2024-03-01T10:15:00+01:00"}  # fmt: skip
EDGE_CASES = [
    b'{"order_id": "o", "customer_id": "c", "amount": 1, "currency": "USD", '
    b'"event_time": "2024-03-01T10:15:00Z",}',  # trailing comma
    b'{"order_id": "o", "customer_id": "c", "amount": 1, "amount": -1, "currency": "USD", '
    b'"event_time": "2024-03-01T10:15:00Z"}',  # duplicate key: the last one wins
    json.dumps({**BASE, "amount": float("nan")}).encode(),
    json.dumps({**BASE, "amount": -0.0}).encode(),
    json.dumps({**BASE, "amount": 10**30}).encode(),
    json.dumps({**BASE, "amount": 2**64}).encode(),
    json.dumps({**BASE, "amount": 1e-7}).encode(),
    _valid().replace(b"12.5", b"1e400"),
    json.dumps({**BASE, "order_id": "\u3000"}).encode(),
    json.dumps({**BASE, "order_id": "\t"}).encode(),
    json.dumps({**BASE, "order_id": "ü"}).encode(),
    json.dumps({**BASE, "customer_id": 5}).encode(),
    json.dumps({**BASE, "event_time": "2024-03-01 10:15:00+00:00"}).encode(),
    json.dumps({**BASE, "event_time": "2024-02-30T10:15:00+00:00"}).encode(),
    json.dumps({**BASE, "event_time": "2024-03-01T10:15:00.1234567+00:00"}).encode(),
    json.dumps({**BASE, "event_time": "2024-03-01T10:15:00-05:30"}).encode(),
    json.dumps({**BASE, "event_time": "20240301T101500Z"}).encode(),
    json.dumps({**BASE, "extra": {"amount": -1, "nested": [1, 2]}}).encode(),
    json.dumps({**BASE, "amount": True}).encode(),
    json.dumps([BASE]).encode(),
    json.dumps("a string").encode(),
    b"null",
    b"\xef\xbb\xbf" + json.dumps(BASE).encode(),  # byte-order mark
    b'{"order_id": "o\\u0000x", "customer_id": "c", "amount": 1, "currency": "USD", '
    b'"event_time": "2024-03-01T10:15:00Z"}',
    '{"order_id": "é"}'.encode("latin-1"),
    b"",
    None,
]


@pytest.mark.parametrize("value", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_the_one_pass_path_agrees_with_the_detailed_rules(value: bytes | None) -> None:
    """The hot path only shortcuts: every verdict and every value equals the detailed path's."""
    assert oe.validate_value(value) == oe._validate_in_detail(value, oe.DEFAULT_MAX_RECORD_BYTES)


def test_generated_events_agree_with_the_detailed_rules() -> None:
    for record in event_producer.generate(3_000, invalid_rate=0.1, late_rate=0.2, seed=4):
        fast = oe.validate_value(record.value)
        assert fast == oe._validate_in_detail(record.value, oe.DEFAULT_MAX_RECORD_BYTES)


def test_an_unpaired_surrogate_escape_is_poison_not_a_crash() -> None:
    """The standard-library decoder accepts "\\ud800"; such a string cannot be stored as UTF-8,
    and accepting it would fail the whole batch's insert on every retry."""
    error = oe.validate_value(_valid().replace(b'"o-1"', b'"o-\\ud800"'))
    assert isinstance(error, oe.EventError) and error.code == oe.WRONG_TYPE
    assert "'order_id'" in error.message and "surrogate" in error.message


def test_integer_amounts_beyond_a_double_are_not_finite() -> None:
    error = oe.validate_value(_valid().replace(b"12.5", b"1" + b"0" * 400))
    assert isinstance(error, oe.EventError) and error.code == oe.NON_FINITE_AMOUNT
    event = oe.validate_value(_valid().replace(b"12.5", b"18446744073709551616"))
    assert isinstance(event, oe.OrderEvent) and event.amount == 2.0**64
