"""Client for the paginated orders API, and the page contract every response must meet.

Contract: `GET {base}/{entity}?date=YYYY-MM-DD&page=N` (users: no date) answers
`{"data": [ {...}, ... ], "page": N, "next_page": N+1 | null, ...}`. A page that breaks the
contract raises `PageContractError` naming the URL and the offending field; nothing is loaded.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Protocol

import requests

from data_platform.lib import demo_source

_STR = (str,)
_NUM = (int, float)


@dataclass(frozen=True)
class Field:
    name: str
    types: tuple[type, ...]
    nullable: bool = False
    kind: str = ""  # "date" or "timestamp": the string must parse as one

    def describe(self) -> str:
        names = {str: "string", int: "integer", float: "number"}
        expected = " or ".join(dict.fromkeys(names[t] for t in self.types))
        if self.kind:
            expected = f"{self.kind} string (ISO-8601)"
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
            Field("quantity", (int,)),
            Field("unit_price", _NUM),
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


def _check_kind(value: str, kind: str) -> bool:
    try:
        if kind == "date":
            date.fromisoformat(value)
        elif kind == "timestamp":
            datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def validate_page(url: str, payload: Any, entity: Entity, page: int) -> list[dict[str, Any]]:
    """Return the page's records, or raise PageContractError naming the first bad field."""

    def fail(where: str, expected: str, got: Any) -> PageContractError:
        shown = repr(got) if len(repr(got)) <= 60 else repr(got)[:57] + "..."
        return PageContractError(f"{url}: {where}: expected {expected}, got {shown}")

    if not isinstance(payload, dict):
        raise fail("response body", "a JSON object", type(payload).__name__)
    data = payload.get("data")
    if not isinstance(data, list):
        raise fail("field 'data'", "a list of records", data)
    if payload.get("page") != page:
        raise fail("field 'page'", f"the requested page {page}", payload.get("page"))
    next_page = payload.get("next_page")
    if next_page is not None and next_page != page + 1:
        raise fail("field 'next_page'", f"null or {page + 1}", next_page)
    for row_no, record in enumerate(data):
        if not isinstance(record, dict):
            raise fail(f"data[{row_no}]", "a JSON object", record)
        for field in entity.fields:
            value = record.get(field.name)
            if value is None:
                if field.nullable:
                    continue
                raise fail(f"data[{row_no}].{field.name}", field.describe(), value)
            ok = isinstance(value, field.types) and not isinstance(value, bool)
            if ok and isinstance(value, float):
                ok = math.isfinite(value)
            if ok and field.kind:
                ok = _check_kind(value, field.kind)
            if not ok:
                raise fail(f"data[{row_no}].{field.name}", field.describe(), value)
    return data


class Transport(Protocol):
    def get_json(self, path: str, params: dict[str, Any]) -> tuple[str, Any]:
        """Return (url, decoded JSON body) for one GET."""
        ...


def _retry_after_seconds(header: str | None) -> float | None:
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


@dataclass
class HttpTransport:
    """requests-based GET with timeouts and exponential backoff on connection errors, 429, 5xx."""

    base_url: str
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_retries: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    token: str | None = None
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self._session = requests.Session()
        if self.token:
            self._session.headers["Authorization"] = f"Bearer {self.token}"

    def get_json(self, path: str, params: dict[str, Any]) -> tuple[str, Any]:
        url = f"{self.base_url.rstrip('/')}/{path}"
        shown = requests.Request("GET", url, params=params).prepare().url or url
        for attempt in range(self.max_retries + 1):
            delay = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt)
            try:
                response = self._session.get(
                    url, params=params, timeout=(self.connect_timeout, self.read_timeout)
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status == 429 or status >= 500:
                    problem = f"HTTP {status}"
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                    if retry_after is not None:
                        delay = min(self.max_backoff_seconds, retry_after)
                elif status >= 400:
                    raise OrdersApiError(
                        f"GET {shown} failed with HTTP {status}: {response.text[:200]}"
                    )
                else:
                    try:
                        return shown, response.json()
                    except ValueError as exc:
                        raise PageContractError(
                            f"{shown}: response body is not JSON: {exc}"
                        ) from exc
            if attempt == self.max_retries:
                raise OrdersApiError(
                    f"GET {shown} failed after {self.max_retries + 1} attempts; last: {problem}"
                )
            self.sleep(delay)
        raise AssertionError("unreachable")


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

    def iter_pages(
        self, entity: str, day: date | None = None, as_of: date | None = None
    ) -> Iterator[list[dict[str, Any]]]:
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
            page += 1

    def fetch(
        self, entity: str, day: date | None = None, as_of: date | None = None
    ) -> list[dict[str, Any]]:
        """Every record of `entity` (for `day`), validated page by page before any is returned."""
        records: list[dict[str, Any]] = []
        for page in self.iter_pages(entity, day, as_of):
            records.extend(page)
        return records
