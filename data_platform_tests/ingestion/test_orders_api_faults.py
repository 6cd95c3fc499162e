"""The API client against hostile real servers on 127.0.0.1: one that cuts chunked bodies short,
one that never stops answering next_page, and one that echoes the request (Authorization header
included) into its error bodies; no credential reaches a message, a log line or the warehouse."""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import dagster as dg
import pytest

from data_platform.ingestion import demo_source
from data_platform.ingestion.assets import raw_orders
from data_platform.ingestion.http_transport import HttpTransport
from data_platform.ingestion.orders_api import (
    OrdersApiClient,
    OrdersApiError,
    PageLimitExceeded,
    redact,
)
from data_platform.resources import ORDERS_API_TOKEN_ENV, OrdersApiResource
from data_platform_tests.conftest import query

TOKEN = "tok-3f9a1c7e5b2d48e6a0c1"
DAY = date(2024, 1, 15)

# (handler, request number) -> None; writes the whole reply itself
Behaviour = Callable[[BaseHTTPRequestHandler, int], None]


class RawServer:
    """A real HTTP/1.1 server whose every reply is written by `behaviour` byte by byte."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.count = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with outer.lock:
                    outer.count += 1
                    n = outer.count
                behaviour(self, n)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], RawServer]]:
    servers: list[RawServer] = []

    def make(behaviour: Behaviour) -> RawServer:
        servers.append(RawServer(behaviour))
        return servers[-1]

    yield make
    for s in servers:
        s.server.shutdown()
        s.server.server_close()


def _params(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(handler.path).query).items()}


def _page(handler: BaseHTTPRequestHandler) -> dict:
    return demo_source.demo_page("orders", int(_params(handler)["page"]), 50, day=DAY,
                                 orders_per_day=120)  # fmt: skip


def _send_json(handler: BaseHTTPRequestHandler, status: int, body: object) -> None:
    raw = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(raw)))
    handler.end_headers()
    handler.wfile.write(raw)


def _send_truncated_chunked(handler: BaseHTTPRequestHandler, body: object) -> None:
    """Announce a chunked body, send half of one chunk, then drop the connection."""
    raw = json.dumps(body).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.write(f"{len(raw):x}\r\n".encode() + raw[: len(raw) // 2])
    handler.wfile.flush()
    handler.close_connection = True


def _client(url: str, sleeps: list[float], retries: int = 3, max_pages: int = 1000):
    transport = HttpTransport(url, max_retries=retries, backoff_seconds=0.01, token=TOKEN,
                              sleep=sleeps.append)  # fmt: skip
    return OrdersApiClient(transport, page_size=50, max_pages=max_pages)


def test_a_truncated_chunked_body_is_retried(serve) -> None:
    def behaviour(handler: BaseHTTPRequestHandler, n: int) -> None:
        if n <= 2:
            _send_truncated_chunked(handler, _page(handler))
        else:
            _send_json(handler, 200, _page(handler))

    sleeps: list[float] = []
    server = serve(behaviour)
    records = _client(server.url, sleeps).fetch("orders", day=DAY)
    assert records == demo_source.generate_day(DAY, 120).orders
    assert sleeps == [0.01, 0.02] and server.count == 2 + 3  # two cut bodies, then three pages


def test_bodies_cut_short_every_time_fail_naming_the_fault(serve) -> None:
    server = serve(lambda handler, n: _send_truncated_chunked(handler, _page(handler)))
    with pytest.raises(
        OrdersApiError, match=r"failed after 3 attempts; last: ChunkedEncodingError"
    ):
        _client(server.url, [], retries=2).fetch("orders", day=DAY)
    assert server.count == 3


def test_a_server_that_always_answers_next_page_hits_the_cap(serve) -> None:
    def behaviour(handler: BaseHTTPRequestHandler, n: int) -> None:
        page = _page(handler)
        page["next_page"] = page["page"] + 1  # never null
        _send_json(handler, 200, page)

    server = serve(behaviour)
    with pytest.raises(PageLimitExceeded, match=r"after 5 pages, the cap \(max_pages=5\)"):
        _client(server.url, [], max_pages=5).fetch("orders", day=DAY)
    assert server.count == 5


def _echo(handler: BaseHTTPRequestHandler, status: int) -> None:
    """Echo the request line and every header back, in two notations, as some servers do."""
    headers = dict(handler.headers.items())
    raw = (
        "".join(f"{k}: {v}\r\n" for k, v in sorted(headers.items()))
        + json.dumps({"error": "bad request", "request": handler.requestline, "headers": headers})
    ).encode()
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(raw)))
    handler.end_headers()
    handler.wfile.write(raw)


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_an_echoed_request_never_puts_the_token_in_the_error(serve, status: int) -> None:
    server = serve(lambda handler, n: _echo(handler, status))
    with pytest.raises(OrdersApiError) as raised:
        _client(server.url, []).fetch("orders", day=DAY)
    message = str(raised.value)
    assert f"HTTP {status}" in message and "Authorization" in message  # the echo is there...
    assert TOKEN not in message and TOKEN[:8] not in message  # ...without the token
    shown = "".join(traceback.format_exception(raised.value))  # as Dagster shows a failure
    assert TOKEN not in shown


def test_retry_log_lines_and_messages_redact_url_credentials(serve, caplog) -> None:
    server = serve(
        lambda handler, n: _send_json(handler, 503, {"echo": handler.headers["Authorization"]})
    )
    url = server.url.replace("http://", "http://robot:pw-9d8c7b6a@") + "/?api_key=k-55aa66bb"
    sleeps: list[float] = []
    transport = HttpTransport(url, max_retries=2, backoff_seconds=0.01, token=TOKEN,
                              sleep=sleeps.append)  # fmt: skip
    with caplog.at_level(logging.DEBUG), pytest.raises(OrdersApiError) as raised:
        OrdersApiClient(transport, page_size=50).fetch("orders", day=DAY)
    assert len(sleeps) == 2
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2
    for text in [str(raised.value), repr(transport), *retries]:
        for secret in (TOKEN, "pw-9d8c7b6a", "k-55aa66bb"):
            assert secret not in text, text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Authorization: Bearer abc.DEF-123\r\nHost: x", "Authorization: ***\r\nHost: x"),
        ('{"authorization": "Bearer abc"}', '{"authorization": "***"}'),
        ("{'Proxy-Authorization': 'Basic dXNlcjpw'}", "{'Proxy-Authorization': '***'}"),
        ("sent bearer abc.def to", "sent bearer *** to"),
        ("https://u:secret@h/p?a=1&token=t0k&b=2", "https://u:***@h/p?a=1&token=***&b=2"),
        ("configured sekrit-value appears", "configured *** appears"),
    ],
)
def test_redact(text: str, shown: str) -> None:
    assert redact(text, ["sekrit-value", None, ""]) == shown


def test_the_token_stays_out_of_the_event_log_and_the_audit_table(
    serve, warehouse, warehouse_path, instance, monkeypatch
) -> None:
    """As reported: a failed raw_orders run once carried `Bearer <token>` into the run's events
    and meta.etl_runs. Now neither holds it."""
    server = serve(lambda handler, n: _echo(handler, 400))
    monkeypatch.setenv(ORDERS_API_TOKEN_ENV, TOKEN)
    result = dg.materialize(
        [raw_orders],
        partition_key=DAY.isoformat(),
        resources={"orders_api": OrdersApiResource(base_url=server.url), "warehouse": warehouse},
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    events = instance.all_logs(result.run_id)
    text = "\n".join(str(e.dagster_event) + (e.user_message or "") for e in events)
    assert "HTTP 400" in text and TOKEN not in text
    (audit,) = query(warehouse_path, "SELECT status, error_message FROM meta.etl_runs")
    assert audit[0] == "failed" and "HTTP 400" in audit[1] and TOKEN not in audit[1]
