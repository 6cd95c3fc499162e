"""The demo source served over HTTP with the real API contract, for `data-platform serve-api`
and for tests that need a real server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from data_platform.ingestion import demo_source
from data_platform.ingestion.orders_api import ENTITIES


class DemoApiHandler(BaseHTTPRequestHandler):
    orders_per_day = demo_source.DEFAULT_ORDERS_PER_DAY

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request logging."""

    def _send(self, status: int, body: object) -> None:
        encoded = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        entity = url.path.strip("/")
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        if entity not in ENTITIES:
            self._send(404, {"error": f"unknown collection {entity!r}"})
            return
        try:
            page = demo_source.demo_page(
                entity,
                page=int(params.get("page", "1")),
                page_size=int(params.get("page_size", "1000")),
                day=date.fromisoformat(params["date"]) if "date" in params else None,
                as_of=date.fromisoformat(params["as_of"]) if "as_of" in params else None,
                orders_per_day=self.orders_per_day,
            )
        except (ValueError, KeyError) as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, page)


def start_demo_api(
    host: str = "127.0.0.1", port: int = 0, orders_per_day: int | None = None
) -> ThreadingHTTPServer:
    """Serve the demo API on a background thread; returns the server (call `.shutdown()`)."""
    handler = type(
        "ConfiguredDemoApiHandler",
        (DemoApiHandler,),
        {"orders_per_day": orders_per_day or demo_source.DEFAULT_ORDERS_PER_DAY},
    )
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
