"""Hostile pages cannot make the API page validator raise anything but PageContractError, and a
page it accepts always loads into its raw table: arbitrary bodies over real HTTP, arbitrary JSON,
page-shaped JSON with hostile records (deep nesting, huge and non-finite numbers, date and zone
edges, odd Unicode, duplicate keys)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from data_platform import warehouse
from data_platform.ingestion.frames import records_to_frame
from data_platform.ingestion.http_transport import HttpTransport
from data_platform.ingestion.orders_api import (
    ENTITIES,
    OrdersApiError,
    PageContractError,
    validate_page,
)

PROPERTY = settings(
    max_examples=250,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
URL = "http://api.test/orders?page=1"
DAY = date(2024, 1, 15)


@pytest.fixture(scope="module")
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        warehouse.ensure_raw_schema(connection)
        yield connection


def _verdict(conn: duckdb.DuckDBPyConnection, payload: object, entity: str = "orders") -> bool:
    """The contract: PageContractError or records that the raw table takes; True when loaded."""
    spec = ENTITIES[entity]
    try:
        records = validate_page(URL, payload, spec, 1)
    except PageContractError as exc:
        assert str(exc).startswith(URL), exc
        str(exc).encode("utf-8")
        return False
    table = warehouse.RAW_TABLES[entity]
    frame = records_to_frame(table, records)
    day = DAY if table.partitioned else None
    assert warehouse.replace_partition(conn, table, frame, "run", entity, day) == len(records)
    return True


_ODD = ["", " ", "\u0000", "\ufeff", "\U0001f600", "\ud800", "a" * 500, "null", "NaN"]
odd_text = st.one_of(st.text(max_size=12), st.sampled_from(_ODD))
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.sampled_from([2**31, -(2**31) - 1, 2**63, 2**64, 10**20, 1e15, 1e16, 1e308]),
    st.builds(pow, st.just(10), st.just(5000)),  # beyond what int() may turn into text
    st.booleans(),
)
json_values = st.recursive(
    st.one_of(st.none(), numbers, odd_text),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=12,
)
_DATES = ["2024-01-15", "0001-01-01", "9999-12-31", "2024-02-29", "2023-02-29", "20240115",
          "2024-W03-1", "2024-015", "2024-1-5", "15/01/2024", "10000-01-01"]  # fmt: skip
_TIMES = ["", "T10:00:00", " 10:00:00", "T10:00", "T10", "T10:00:00.1234567", "T10:00:00,5",
          "T24:00:00", "T23:59:60", "T101500"]  # fmt: skip
_ZONES = ["", "Z", "+14:00", "-14:00", "+0530", "+05", "+24:00", "+00:00:30"]
dates = st.one_of(st.sampled_from(_DATES), odd_text, json_values)
timestamps = st.one_of(
    st.builds(
        lambda d, t, z: d + t + z,
        st.sampled_from(_DATES),
        st.sampled_from(_TIMES),
        st.sampled_from(_ZONES),
    ),
    odd_text,
    json_values,
)


_ABSENT = object()
valid_dates = st.dates().map(date.isoformat)
valid_times = st.datetimes().map(lambda t: t.isoformat(sep=_sep(t)))
valid_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
# Per field: (values the contract allows, at their edges; hostile values)
FIELDS = {
    "orders": {
        "order_id": (valid_text, odd_text),
        "customer_id": (st.none() | valid_text, odd_text),
        "order_date": (valid_dates, dates),
        "total_amount": (
            st.sampled_from(["12.50", "$3", None])
            | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False),
            numbers,
        ),
        "currency": (st.none() | valid_text, odd_text),
        "status": (st.none() | valid_text, odd_text),
        "updated_at": (valid_times, timestamps),
    },
    "order_items": {
        "order_id": (valid_text, odd_text),
        "product_id": (valid_text, odd_text),
        "quantity": (st.integers(-(2**31) + 1, 2**31 - 1), numbers),
        "unit_price": (st.floats(-1e15, 1e15) | st.integers(-(10**14), 10**14), numbers),
        "order_date": (valid_dates, dates),
    },
}


def _record(entity: str, hostile: bool) -> st.SearchStrategy:
    """A valid record, or one whose every field may be hostile, any JSON, or absent."""
    fields = {
        name: st.one_of(valid, bad, json_values, st.just(_ABSENT)) if hostile else valid
        for name, (valid, bad) in FIELDS[entity].items()
    }
    return st.fixed_dictionaries(fields).map(
        lambda doc: {k: v for k, v in doc.items() if v is not _ABSENT}
    )


records = {e: st.one_of(*[_record(e, False)] * 5, _record(e, True)) for e in FIELDS}


def _sep(moment: datetime) -> str:
    return " " if moment.microsecond % 2 else "T"


def _page(data: object, page: object = 1, next_page: object = None) -> dict:
    return {"data": data, "page": page, "next_page": next_page}


@PROPERTY
@given(payload=json_values)
@example(payload=[[[[[]]]]])
def test_arbitrary_json(conn, payload: object) -> None:
    _verdict(conn, payload)


@PROPERTY
@given(
    entity=st.sampled_from(sorted(records)),
    data=st.data(),
    page=st.one_of(*[st.just(1)] * 8, json_values),
    next_page=st.one_of(*[st.none(), st.just(2)] * 4, json_values),
)
def test_page_shaped_json(conn, entity: str, data: st.DataObject, page, next_page) -> None:
    rows = data.draw(st.lists(records[entity], max_size=4))
    event("loaded" if _verdict(conn, _page(rows, page, next_page), entity) else "refused")


def _nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "payload",
    [
        _nested(50_000),
        _page(_nested(50_000)),
        _page([{"order_id": _nested(50_000)}]),
        _page([{"order_id": 10**5000}]),
        _page(
            [
                {
                    "order_id": "o",
                    "order_date": "2024-01-15",
                    "updated_at": "2024-01-15",
                    "total_amount": 10**5000,
                }
            ]
        ),
        _page([], page=10**5000),
    ],
    ids=["bare", "data", "field", "huge-int-shown", "huge-int-amount", "huge-page"],
)
def test_values_that_break_repr_are_contract_errors(conn, payload: object) -> None:
    assert not _verdict(conn, payload)


def test_duplicate_keys_and_the_last_one_wins(conn) -> None:
    """As json (and requests) decode them: the later duplicate decides."""
    body = ('{"data": [{"order_id": 5, "order_id": "o-1", "order_date": "x", '
            '"order_date": "2024-01-15", "updated_at": "2024-01-15T10:00:00Z"}], '
            '"page": 2, "page": 1, "next_page": null}')  # fmt: skip
    assert _verdict(conn, json.loads(body))


def _body(value: object) -> bytes:
    """JSON text of `value` (NaN as a literal); an integer too long to print becomes its digits."""
    try:
        return json.dumps(value, allow_nan=True).encode()
    except ValueError:
        return b"[" + b"9" * 5000 + b"]"


@pytest.fixture(scope="module")
def body_server() -> Iterator[tuple[str, list[bytes]]]:
    """A real server answering 200 with whatever body the test put in the list last."""
    bodies: list[bytes] = [b""]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            raw = bodies[-1]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", bodies
    server.shutdown()
    server.server_close()


@settings(PROPERTY, max_examples=150)
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.builds(lambda d: b"[" * d, st.integers(1000, 60_000)),
        st.builds(lambda n: b'{"data": [], "page": ' + b"9" * n + b"}", st.integers(1, 6000)),
        json_values.map(_body),
    )
)
def test_arbitrary_bodies_over_http(conn, body_server, body: bytes) -> None:
    url, bodies = body_server
    bodies.append(body)
    transport = HttpTransport(url, max_retries=0, sleep=lambda _: None)
    try:
        _, payload = transport.get_json("orders", {"page": 1, "date": DAY.isoformat()})
    except PageContractError as exc:
        assert "not JSON" in str(exc)
        return
    except OrdersApiError as exc:  # pragma: no cover - a 200 answer must not end up here
        raise AssertionError(exc) from exc
    _verdict(conn, payload)
