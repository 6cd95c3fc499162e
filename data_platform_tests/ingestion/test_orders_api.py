"""The API client against real HTTP servers on 127.0.0.1: the demo API and scripted faulty ones."""

import json
import threading
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from data_platform.ingestion import demo_source
from data_platform.ingestion.demo_api_server import start_demo_api
from data_platform.ingestion.http_transport import HttpTransport
from data_platform.ingestion.orders_api import (
    OrdersApiClient,
    OrdersApiError,
    PageContractError,
)
from data_platform.kafka.local_broker import free_port

Reply = tuple[int, dict[str, str], object]


class ScriptedServer:
    """A real HTTP server answering each request from a script; records every request."""

    def __init__(self, script: Callable[[int, dict[str, str]], Reply]) -> None:
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                params = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                outer.requests.append(params)
                status, headers, body = script(len(outer.requests), params)
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def make(script: Callable[[int, dict[str, str]], Reply]) -> ScriptedServer:
        servers.append(ScriptedServer(script))
        return servers[-1]

    yield make
    for s in servers:
        s.server.shutdown()


def good_page(params: dict[str, str]) -> dict:
    return demo_source.demo_page(
        "orders", int(params["page"]), 50, day=date(2024, 1, 15), orders_per_day=120
    )


def client(url: str, sleeps: list[float] | None = None, retries: int = 3) -> OrdersApiClient:
    record = sleeps.append if sleeps is not None else (lambda _: None)
    transport = HttpTransport(url, max_retries=retries, backoff_seconds=0.01, sleep=record)
    return OrdersApiClient(transport, page_size=50)


def test_demo_api_over_http_matches_the_in_process_source() -> None:
    server = start_demo_api(orders_per_day=120)
    try:
        records = client(f"http://127.0.0.1:{server.server_port}").fetch(
            "orders", day=date(2024, 1, 15)
        )
    finally:
        server.shutdown()
    assert records == demo_source.generate_day(date(2024, 1, 15), 120).orders


def test_pagination_follows_next_page_until_null(scripted) -> None:
    server = scripted(lambda n, params: (200, {}, good_page(params)))
    records = client(server.url).fetch("orders", day=date(2024, 1, 15))
    expected = demo_source.generate_day(date(2024, 1, 15), 120).orders
    assert records == expected
    assert [r["page"] for r in server.requests] == ["1", "2", "3"]
    assert all(r["date"] == "2024-01-15" for r in server.requests)


def test_retries_on_500_then_succeeds(scripted) -> None:
    def script(n: int, params: dict[str, str]) -> Reply:
        return (500, {}, {"error": "boom"}) if n <= 2 else (200, {}, good_page(params))

    sleeps: list[float] = []
    server = scripted(script)
    records = client(server.url, sleeps).fetch("orders", day=date(2024, 1, 15))
    assert len(records) == len(demo_source.generate_day(date(2024, 1, 15), 120).orders)
    assert sleeps == [0.01, 0.02], "exponential backoff between the two retries"


def test_429_honours_retry_after(scripted) -> None:
    def script(n: int, params: dict[str, str]) -> Reply:
        return (429, {"Retry-After": "7"}, {}) if n == 1 else (200, {}, good_page(params))

    sleeps: list[float] = []
    server = scripted(script)
    client(server.url, sleeps).fetch("orders", day=date(2024, 1, 15))
    assert sleeps == [7.0]


def test_retries_exhausted_names_url_and_last_status(scripted) -> None:
    server = scripted(lambda n, params: (503, {}, {}))
    with pytest.raises(OrdersApiError, match=r"orders\?.*failed after 3 attempts; last: HTTP 503"):
        client(server.url, retries=2).fetch("orders", day=date(2024, 1, 15))
    assert len(server.requests) == 3


def test_404_is_a_clear_error_without_retry(scripted) -> None:
    server = scripted(lambda n, params: (404, {}, {"error": "no such date"}))
    with pytest.raises(OrdersApiError, match=r"GET http://127\.0\.0\.1:\d+/orders\?.* HTTP 404"):
        client(server.url).fetch("orders", day=date(2024, 1, 15))
    assert len(server.requests) == 1


def test_unreachable_api_is_retried_then_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(OrdersApiError, match=r"127\.0\.0\.1.*failed after 2 attempts.*Connection"):
        client(url, retries=1).fetch("orders", day=date(2024, 1, 15))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.update(data="oops"), r"field 'data': expected a list of records"),
        (lambda p: p.update(page=9), r"field 'page': expected the requested page 1"),
        (lambda p: p["data"][3].pop("order_id"), r"data\[3\]\.order_id: expected string, got None"),
        (
            lambda p: p["data"][4].update(order_date="15/01/2024"),
            r"data\[4\]\.order_date: expected date string \(ISO-8601\), got '15/01/2024'",
        ),
        (lambda p: p["data"][5].update(total_amount=[1]), r"data\[5\]\.total_amount: expected"),
        (lambda p: p["data"].__setitem__(6, "x"), r"data\[6\]: expected a JSON object"),
    ],
)
def test_malformed_page_names_the_field(scripted, mutate, message: str) -> None:
    def script(n: int, params: dict[str, str]) -> Reply:
        page = good_page(params)
        mutate(page)
        return 200, {}, page

    server = scripted(script)
    with pytest.raises(PageContractError, match=message):
        client(server.url).fetch("orders", day=date(2024, 1, 15))


def test_non_json_body_is_a_contract_error(scripted) -> None:
    server = scripted(lambda n, params: (200, {}, b"<html>maintenance</html>"))
    with pytest.raises(PageContractError, match="not JSON"):
        client(server.url).fetch("orders", day=date(2024, 1, 15))
