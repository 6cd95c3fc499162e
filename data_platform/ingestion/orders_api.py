"""Client for the paginated orders API, and the page contract every response must meet.

Contract: `GET {base}/{entity}?date=YYYY-MM-DD&page=N` (users: no date) answers
`{"data": [ {...}, ... ], "page": N, "next_page": N+1 | null, ...}`. A page that breaks the
contract raises `PageContractError` naming the URL and the offending field; nothing is loaded.
A page passes only if the warehouse can hold every value (dates and timestamps in the forms
DuckDB reads, numbers within the column types, text storable as UTF-8), and validating it never
raises anything but `PageContractError`, whatever the body holds.

Transient faults (connection errors, timeouts, truncated bodies, 429 and 5xx) are retried with
exponential backoff by tenacity; a day is cut off after `max_pages` pages. Error messages and log
lines never carry credentials: `redact` masks the bearer token, URL passwords, Authorization
headers and secret-looking query parameters, whatever the server echoes back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from data_platform.ingestion import demo_source

_STR = (str,)
_NUM = (int, float)
DEFAULT_MAX_PAGES = 1000
BODY_EXCERPT_CHARS = 200
# The forms DuckDB casts to DATE / TIMESTAMP (Python's fromisoformat also takes 20240101,
# 2024-W01-1, 10:00:00,5 ... which the warehouse would refuse mid-load).
_DATE_FORM = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP_FORM = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?"
)
_INT64 = 2**63 - 1


@dataclass(frozen=True)
class Field:
    name: str
    types: tuple[type, ...]
    nullable: bool = False
    kind: str = ""  # "date" or "timestamp": the string must parse as one
    max_abs: float = _INT64  # numbers must fit the warehouse column (INTEGER, DECIMAL(18,2), ...)

    def describe(self) -> str:
        names = {str: "string", int: "integer", float: "number"}
        expected = " or ".join(dict.fromkeys(names[t] for t in self.types))
        if self.kind:
            expected = f"{self.kind} string (ISO-8601)"
        elif self.max_abs < _INT64 and set(self.types) & {int, float}:
            expected += f" of magnitude below {self.max_abs:.0e}"
        return f"{expected}{' or null' if self.nullable else ''}"


@dataclass(frozen=True)
class Entity:
    """One API collection and the fields each of its records must carry."""

    name: str
    fields: tuple[Field, ...]
    partitioned: bool = True

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]


ENTITIES: dict[str, Entity] = {
    "orders": Entity(
        "orders",
        (
            Field("order_id", _STR),
            Field("customer_id", _STR, nullable=True),
            Field("order_date", _STR, kind="date"),
            Field("total_amount", (str, int, float), nullable=True),
            Field("currency", _STR, nullable=True),
            Field("status", _STR, nullable=True),
            Field("updated_at", _STR, kind="timestamp"),
        ),
    ),
    "order_items": Entity(
        "order_items",
        (
            Field("order_id", _STR),
            Field("product_id", _STR),
            Field("quantity", (int,), max_abs=2**31 - 1),  # INTEGER
            # DECIMAL(18,2); below 1e15 a double still carries the cents exactly
            Field("unit_price", _NUM, max_abs=1e15),
            Field("order_date", _STR, kind="date"),
        ),
    ),
    "customers": Entity(
        "customers",
        (
            Field("customer_id", _STR),
            Field("customer_name", _STR),
            Field("customer_segment", _STR, nullable=True),
            Field("signup_date", _STR, kind="date"),
        ),
    ),
    "users": Entity(
        "users",
        (
            Field("user_id", _STR),
            Field("email", _STR, nullable=True),
            Field("address", _STR, nullable=True),
            Field("status", _STR, nullable=True),
            Field("updated_at", _STR, kind="timestamp"),
        ),
        partitioned=False,
    ),
}


class OrdersApiError(RuntimeError):
    """The API could not be read: unreachable, an HTTP error, or retries exhausted."""


class PageContractError(OrdersApiError):
    """A page does not match the contract; names the URL, the field and what was expected."""


class PageLimitExceeded(OrdersApiError):
    """The API kept answering `next_page` beyond the configured page cap."""


def _check_kind(value: str, kind: str) -> bool:
    try:
        if kind == "date":
            return _DATE_FORM.fullmatch(value) is not None and bool(date.fromisoformat(value))
        if kind == "timestamp":
            return _TIMESTAMP_FORM.fullmatch(value) is not None and bool(
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            )
    except ValueError:
        return False
    return True


def _value_ok(value: Any, spec: Field) -> bool:
    if isinstance(value, bool) or not isinstance(value, spec.types):
        return False
    if isinstance(value, str):
        if not _utf8(value):
            return False
        return _check_kind(value, spec.kind) if spec.kind else True
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return abs(value) <= spec.max_abs


def _utf8(text: str) -> bool:
    """A "\\ud800" escape decodes to a lone surrogate, which no UTF-8 column can store."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(value: Any) -> str:
    """A short, printable rendering of an offending value; never raises (deep nesting and
    integers of thousands of digits make `repr` itself fail)."""
    try:
        text = repr(value)
    except Exception:
        return f"a {type(value).__name__} that cannot be shown"
    return text if len(text) <= 60 else text[:57] + "..."


def validate_page(url: str, payload: Any, entity: Entity, page: int) -> list[dict[str, Any]]:
    """Return the page's records, or raise PageContractError naming the first bad field.

    Never raises anything else: a check that fails in an unforeseen way still names the page.
    """
    try:
        return _validate_page(url, payload, entity, page)
    except PageContractError:
        raise
    except Exception as exc:
        raise PageContractError(
            f"{url}: page {page} could not be validated ({type(exc).__name__})"
        ) from None


def _validate_page(url: str, payload: Any, entity: Entity, page: int) -> list[dict[str, Any]]:
    def fail(where: str, expected: str, got: Any) -> PageContractError:
        return PageContractError(f"{url}: {where}: expected {expected}, got {_shown(got)}")

    if not isinstance(payload, dict):
        raise fail("response body", "a JSON object", type(payload).__name__)
    data = payload.get("data")
    if not isinstance(data, list):
        raise fail("field 'data'", "a list of records", data)
    if type(payload.get("page")) is not int or payload.get("page") != page:
        raise fail("field 'page'", f"the requested page {page}", payload.get("page"))
    next_page = payload.get("next_page")
    if next_page is not None and (type(next_page) is not int or next_page != page + 1):
        raise fail("field 'next_page'", f"null or {page + 1}", next_page)
    for row_no, record in enumerate(data):
        if not isinstance(record, dict):
            raise fail(f"data[{row_no}]", "a JSON object", record)
        for spec in entity.fields:
            value = record.get(spec.name)
            if value is None:
                if spec.nullable:
                    continue
                raise fail(f"data[{row_no}].{spec.name}", spec.describe(), value)
            if not _value_ok(value, spec):
                raise fail(f"data[{row_no}].{spec.name}", spec.describe(), value)
    return data


# Credential-shaped text, whatever notation an echoing server uses (HTTP, JSON, repr); group
# `keep` survives, the rest of each match becomes "***".
_SECRET_PATTERNS = tuple(
    re.compile(pattern)
    for pattern in (
        r"(?i)(?P<keep>(?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)[^'\",}\r\n]+",
        r"(?i)(?P<keep>\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]+",
        r"(?i)(?P<keep>[?&](?:access_token|api_key|apikey|token|key|secret|password)=)[^&\s'\"]+",
        r"(?P<keep>//[^/@\s:]+:)[^/@\s]+(?=@)",  # user:password@host in URLs
    )
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every configured secret value and every credential-shaped part masked."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\g<keep>***", text)
    return text


class Transport(Protocol):
    def get_json(self, path: str, params: dict[str, Any]) -> tuple[str, Any]:
        """Return (url, decoded JSON body) for one GET."""
        ...


@dataclass
class DemoTransport:
    """The built-in demo source behind the same contract, without a network hop."""

    orders_per_day: int = demo_source.DEFAULT_ORDERS_PER_DAY
    user_count: int = demo_source.DEFAULT_USER_COUNT

    def get_json(self, path: str, params: dict[str, Any]) -> tuple[str, Any]:
        day = date.fromisoformat(params["date"]) if "date" in params else None
        as_of = date.fromisoformat(params["as_of"]) if "as_of" in params else None
        payload = demo_source.demo_page(
            path,
            page=int(params["page"]),
            page_size=int(params.get("page_size", 5000)),
            day=day,
            as_of=as_of,
            orders_per_day=self.orders_per_day,
            user_count=self.user_count,
        )
        return f"demo://{path}?{'&'.join(f'{k}={v}' for k, v in params.items())}", payload


@dataclass
class OrdersApiClient:
    transport: Transport
    page_size: int = 5000
    max_pages: int = DEFAULT_MAX_PAGES

    def iter_pages(
        self, entity: str, day: date | None = None, as_of: date | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Each validated page in turn (at most `max_pages`), so callers can convert and drop it."""
        spec = ENTITIES[entity]
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "page_size": self.page_size}
            if spec.partitioned:
                if day is None:
                    raise ValueError(f"{entity} is fetched per date; no date given")
                params["date"] = day.isoformat()
            elif as_of is not None:
                params["as_of"] = as_of.isoformat()
            url, payload = self.transport.get_json(entity, params)
            yield validate_page(url, payload, spec, page)
            if payload.get("next_page") is None:
                return
            if page >= self.max_pages:
                raise PageLimitExceeded(
                    f"{url}: still answering next_page after {self.max_pages} pages, the cap "
                    f"(max_pages={self.max_pages}); nothing of this "
                    f"{'day' if spec.partitioned else 'table'} was loaded. Raise max_pages if "
                    "the data really is that large, or fix the API's pagination."
                )
            page += 1

    def fetch(
        self, entity: str, day: date | None = None, as_of: date | None = None
    ) -> list[dict[str, Any]]:
        """Every record of `entity` (for `day`), validated page by page before any is returned."""
        records: list[dict[str, Any]] = []
        for page in self.iter_pages(entity, day, as_of):
            records.extend(page)
        return records
