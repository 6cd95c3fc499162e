"""`data-platform serve-api`: the demo orders API over HTTP, for trying ORDERS_API_URL."""

from __future__ import annotations

import argparse
import time

from data_platform.ingestion.demo_api_server import start_demo_api


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve-api", help="serve the demo orders API over HTTP")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--orders-per-day", type=int, default=None)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    server = start_demo_api(args.host, args.port, args.orders_per_day)
    print(f"demo orders API on http://{args.host}:{server.server_port} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
    return 0
