"""Order-event contract: decode and validate one Kafka record value, naming the failing field.

Contract (shared with the Spark job): the value is a UTF-8 JSON object
`{"order_id": str, "customer_id": str, "amount": number, "currency": str,
"event_time": ISO-8601 with a zone}` and the key is the customer id. Validation never raises:
it returns either a clean `OrderEvent` or an `EventError` (code + message) for the DLQ. Known
hazards get their own reason (nesting too deep for the decoder, a time outside the UTC range);
anything else a hostile record provokes becomes `validation_error`, the exception type named.

Decoding is two-tier for speed: orjson (strict RFC 8259, 5x faster than `json`) decodes the
well-formed majority; whatever it refuses is decoded again by the standard library, which names
the reason and also reads `NaN`/`Infinity` so they are reported as non-finite amounts. Where
orjson succeeds the two agree (a test holds them to that), so the tier never changes a verdict.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any, NamedTuple

import orjson

DEFAULT_MAX_RECORD_BYTES = 32 * 1024

# Error codes, one per way a record can be poison (the DLQ's `error_code`).
TOMBSTONE = "tombstone"
OVERSIZED = "oversized"
NOT_UTF8 = "not_utf8"
NOT_JSON = "not_json"
NOT_OBJECT = "not_object"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
EMPTY_FIELD = "empty_field"
NEGATIVE_AMOUNT = "negative_amount"
NON_FINITE_AMOUNT = "non_finite_amount"
BAD_TIMESTAMP = "bad_timestamp"
TIMESTAMP_WITHOUT_ZONE = "timestamp_without_zone"
# The poison kinds a record can be made of (the producer generates each one for tests).
ERROR_CODES = (
    TOMBSTONE,
    OVERSIZED,
    NOT_UTF8,
    NOT_JSON,
    NOT_OBJECT,
    MISSING_FIELD,
    WRONG_TYPE,
    EMPTY_FIELD,
    NEGATIVE_AMOUNT,
    NON_FINITE_AMOUNT,
    BAD_TIMESTAMP,
    TIMESTAMP_WITHOUT_ZONE,
)
# The catch-all: validating the record raised (a bug or a hazard nobody named yet).
VALIDATION_ERROR = "validation_error"
# Every `error_code` a dead letter can carry.
DLQ_REASONS = (*ERROR_CODES, VALIDATION_ERROR)
MESSAGE_LIMIT = 300

REQUIRED_FIELDS = ("order_id", "customer_id", "amount", "currency", "event_time")
_STRING_FIELDS = ("order_id", "customer_id", "currency")


class OrderEvent(NamedTuple):
    order_id: str
    customer_id: str
    amount: float
    currency: str
    event_time: datetime  # timezone-aware, normalised to UTC


class EventError(NamedTuple):
    code: str
    message: str


def _non_finite(name: str) -> float:
    """`NaN`/`Infinity` literals are not JSON; keep them as non-finite numbers to reject."""
    return float(name.replace("Infinity", "inf"))


# One decoder for all records: `json.loads(..., parse_constant=...)` would build one per call.
_DECODER = json.JSONDecoder(parse_constant=_non_finite)


def parse_event_time(value: object) -> datetime | EventError:
    """An ISO-8601 timestamp string with an explicit zone, returned in UTC."""
    if not isinstance(value, str):
        return EventError(
            WRONG_TYPE,
            f"field 'event_time': expected an ISO-8601 string, got {type(value).__name__}",
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return EventError(
            BAD_TIMESTAMP, f"field 'event_time': {value[:64]!r} is not an ISO-8601 timestamp"
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return EventError(
            TIMESTAMP_WITHOUT_ZONE,
            f"field 'event_time': {value[:64]!r} has no zone offset (expected e.g. +00:00 or Z)",
        )
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        return EventError(
            BAD_TIMESTAMP,
            f"field 'event_time': {value[:64]!r} is outside the representable UTC range "
            f"(OverflowError: {exc})",
        )


def unexpected_error(exc: BaseException) -> EventError:
    """The dead letter for a record whose validation raised: the exception type kept, the
    message bounded and storable as UTF-8 (it may quote the record)."""
    text = f"validation raised {type(exc).__name__}: {exc}"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 3] + "..."
    return EventError(VALIDATION_ERROR, f"value: {text}")


def _unpaired_surrogate(text: str) -> bool:
    """Only the standard-library decoder lets `"\\ud800"` escapes through; such a string
    cannot be stored as UTF-8 and would fail the whole batch's insert."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_fields(doc: dict[str, Any], strict_text: bool) -> EventError | float:
    """The first field error, or the amount as a float when every field but the time passes."""
    for name in REQUIRED_FIELDS:
        if name not in doc or doc[name] is None:
            return EventError(MISSING_FIELD, f"field '{name}': required but missing or null")
    for name in _STRING_FIELDS:
        value = doc[name]
        if not isinstance(value, str):
            return EventError(
                WRONG_TYPE, f"field '{name}': expected a string, got {type(value).__name__}"
            )
        if not value.strip():
            return EventError(EMPTY_FIELD, f"field '{name}': must not be empty")
        if not strict_text and _unpaired_surrogate(value):
            return EventError(
                WRONG_TYPE,
                f"field '{name}': expected a string of valid Unicode, got an unpaired "
                "surrogate escape (e.g. \\ud800)",
            )
    amount = doc["amount"]
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        return EventError(
            WRONG_TYPE, f"field 'amount': expected a number, got {type(amount).__name__}"
        )
    if isinstance(amount, int):
        try:
            amount = float(amount)
        except OverflowError:  # an integer literal beyond the range of a double
            amount = math.inf if amount > 0 else -math.inf
    if not math.isfinite(amount):
        return EventError(NON_FINITE_AMOUNT, f"field 'amount': {amount} is not a finite number")
    if amount < 0:
        return EventError(NEGATIVE_AMOUNT, f"field 'amount': {amount} is negative (expected >= 0)")
    return amount


def plainly_valid(
    order_id: object, customer_id: object, amount: object, currency: object, event_time: object
) -> bool:
    """The one-pass check of the usual event (every field but the time's content): True only
    where the detailed rules would accept the fields too; anything else goes to them."""
    return bool(
        type(order_id) is str
        and type(customer_id) is str
        and type(currency) is str
        and type(amount) is float
        and type(event_time) is str
        and 0.0 <= amount < math.inf
        and order_id.strip()
        and customer_id.strip()
        and currency.strip()
    )


def validate_value(
    value: bytes | None, max_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> OrderEvent | EventError:
    """Decode one record value into an OrderEvent, or say precisely why it is poison.

    The plainly valid event (the hot path of every batch) is accepted in one pass; anything
    unusual, valid or not, is examined field by field by `_validate_in_detail`. Whatever either
    raises is this record's dead letter (`unexpected_error`), never the batch's failure; the
    `try` costs nothing until something raises.
    """
    try:
        if value is not None and len(value) <= max_bytes:
            try:
                doc = orjson.loads(value)
                order_id, customer_id = doc["order_id"], doc["customer_id"]
                currency, amount, event_time = doc["currency"], doc["amount"], doc["event_time"]
            except (orjson.JSONDecodeError, TypeError, KeyError):
                pass  # not a JSON object, or a field is missing: the detailed path says which
            else:
                if plainly_valid(order_id, customer_id, amount, currency, event_time):
                    utc = parse_event_time(event_time)
                    if type(utc) is datetime:
                        return OrderEvent(order_id, customer_id, amount, currency, utc)
        return _validate_in_detail(value, max_bytes)
    except Exception as exc:
        return unexpected_error(exc)


def _validate_in_detail(value: bytes | None, max_bytes: int) -> OrderEvent | EventError:
    """The reference validation: every rule in order, the first failure named."""
    if value is None:
        return EventError(TOMBSTONE, "value: null (tombstone) where an order event was expected")
    if len(value) > max_bytes:
        return EventError(
            OVERSIZED, f"value: {len(value)} bytes exceeds the {max_bytes}-byte limit"
        )
    strict = True
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        strict = False
        doc = _decode_leniently(value)
        if isinstance(doc, EventError):
            return doc
    if not isinstance(doc, dict):
        return EventError(
            NOT_OBJECT, f"value: expected a JSON object, got a JSON {type(doc).__name__}"
        )
    amount = _check_fields(doc, strict)
    if isinstance(amount, EventError):
        return amount
    event_time = parse_event_time(doc["event_time"])
    if isinstance(event_time, EventError):
        return event_time
    return OrderEvent(
        order_id=doc["order_id"],
        customer_id=doc["customer_id"],
        amount=amount,
        currency=doc["currency"],
        event_time=event_time,
    )


def _decode_leniently(value: bytes) -> Any:
    """The standard-library reading of what orjson refused, or the reason it is not JSON."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return EventError(NOT_UTF8, f"value: not UTF-8 (byte {exc.start}: {exc.reason})")
    try:
        return _DECODER.decode(text)
    except ValueError as exc:
        return EventError(NOT_JSON, f"value: not JSON ({exc})")
    except RecursionError:
        return EventError(
            NOT_JSON, "value: not JSON this platform accepts (nested too deep: RecursionError)"
        )


def decode_text(value: bytes | None) -> str | None:
    """The payload as text when it is valid UTF-8 (for the DLQ's readable column)."""
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None
