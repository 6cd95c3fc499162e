"""Bad input ends in a clear error and leaves nothing half-written."""

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import dagster as dg
import pytest

from data_platform.ingestion import demo_source
from data_platform.ingestion.assets import raw_orders
from data_platform.ingestion.dates import InvalidPartitionKey
from data_platform.kafka.local_broker import free_port
from data_platform.resources import OrdersApiResource
from data_platform_tests.conftest import query


def serve(handler_fn) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            params = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            status, body = handler_fn(urlparse(self.path).path.strip("/"), params)
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def demo_page(entity: str, params: dict, orders_per_day: int) -> dict:
    """The page the demo source serves for this request, for a handler to corrupt."""
    return demo_source.demo_page(
        entity,
        int(params["page"]),
        int(params["page_size"]),
        day=date.fromisoformat(params["date"]),
        orders_per_day=orders_per_day,
    )


def api(server: ThreadingHTTPServer) -> OrdersApiResource:
    return OrdersApiResource(
        base_url=f"http://127.0.0.1:{server.server_port}", max_retries=1, backoff_seconds=0.01
    )


@pytest.mark.parametrize("key", ["2024-13-45", "2024-01-01'; DROP TABLE raw.orders; --"])
def test_malformed_partition_key_is_refused_before_any_sql(warehouse, orders_api, key) -> None:
    context = dg.build_asset_context(partition_key=key)
    with pytest.raises(InvalidPartitionKey, match=r"expected YYYY-MM-DD|not a calendar date"):
        raw_orders(context=context, orders_api=orders_api, warehouse=warehouse)
    assert not warehouse.resolved_path().exists(), "the warehouse was not even opened"


def test_unknown_partition_key_is_refused_by_dagster(warehouse, orders_api) -> None:
    with pytest.raises(dg.DagsterUnknownPartitionError):
        dg.materialize(
            [raw_orders],
            resources={"warehouse": warehouse, "orders_api": orders_api},
            partition_key="2024-01-01'; DROP TABLE raw.orders; --",
        )
    assert not warehouse.resolved_path().exists()


def test_bad_page_mid_range_keeps_loaded_days_and_writes_nothing_for_the_bad_day(
    warehouse, warehouse_path
) -> None:
    def handler(entity: str, params: dict) -> tuple[int, dict]:
        page = demo_page(entity, params, orders_per_day=100)
        if params["date"] == "2024-01-03" and params["page"] == "2":
            page["data"][1]["order_date"] = None
        return 200, page

    server = serve(handler)
    try:
        resource = OrdersApiResource(
            base_url=f"http://127.0.0.1:{server.server_port}", page_size=40
        )
        result = dg.materialize(
            [raw_orders],
            resources={"warehouse": warehouse, "orders_api": resource},
            tags={
                "dagster/asset_partition_range_start": "2024-01-01",
                "dagster/asset_partition_range_end": "2024-01-04",
            },
            raise_on_error=False,
        )
    finally:
        server.shutdown()
    assert not result.success
    error = result.failure_data_for_node("raw_orders").error.cause
    assert "data[1].order_date: expected date string (ISO-8601), got None" in error.message
    assert "date=2024-01-03" in error.message and "page=2" in error.message
    days = query(
        warehouse_path, "SELECT DISTINCT partition_date::VARCHAR FROM raw.orders ORDER BY 1"
    )
    assert days == [("2024-01-01",), ("2024-01-02",)], "the bad day and later days are not loaded"
    audit = query(
        warehouse_path,
        "SELECT partition_key, status, error_message FROM meta.etl_runs ORDER BY partition_key",
    )
    assert [(k, s) for k, s, _ in audit] == [
        ("2024-01-01", "completed"),
        ("2024-01-02", "completed"),
        ("2024-01-03", "failed"),
    ]
    assert "data[1].order_date" in audit[2][2]


def test_unreachable_api_fails_clearly_with_nothing_written(warehouse, warehouse_path) -> None:
    resource = OrdersApiResource(
        base_url=f"http://127.0.0.1:{free_port()}", max_retries=1, backoff_seconds=0.01
    )
    result = dg.materialize(
        [raw_orders],
        resources={"warehouse": warehouse, "orders_api": resource},
        partition_key="2024-01-05",
        raise_on_error=False,
    )
    assert not result.success
    assert (
        "failed after 2 attempts" in result.failure_data_for_node("raw_orders").error.cause.message
    )
    assert query(warehouse_path, "SELECT COUNT(*) FROM raw.orders") == [(0,)]
    assert query(warehouse_path, "SELECT status FROM meta.etl_runs") == [("failed",)]


def test_rows_outside_the_partition_fail_the_error_check(warehouse, warehouse_path) -> None:
    """The check is blocking: the day is stored and reported, the step fails and nothing
    downstream of raw_orders runs on it."""

    def handler(entity: str, params: dict) -> tuple[int, dict]:
        page = demo_page(entity, params, orders_per_day=50)
        page["data"][0]["order_date"] = "2023-12-31"
        return 200, page

    @dg.asset(
        deps=[raw_orders],
        partitions_def=raw_orders.partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def downstream_of_raw_orders() -> None:
        """Stands in for staging: must not run on a day that failed a blocking check."""

    server = serve(handler)
    try:
        result = dg.materialize(
            [raw_orders, downstream_of_raw_orders],
            resources={"warehouse": warehouse, "orders_api": api(server)},
            partition_key="2024-01-05",
            raise_on_error=False,
        )
    finally:
        server.shutdown()
    assert not result.success
    assert "blocking asset check" in result.failure_data_for_node("raw_orders").error.message
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"raw_orders"}
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["order_date_within_partition"].passed
    assert checks["order_date_within_partition"].severity == dg.AssetCheckSeverity.ERROR
    assert checks["order_date_within_partition"].blocking
    assert checks["order_date_within_partition"].metadata["failing_rows"].value == 1
    assert checks["partition_not_empty"].passed
    # The stray row is stored under the day it was loaded for, so a reload still replaces it.
    assert query(
        warehouse_path,
        "SELECT partition_date::VARCHAR FROM raw.orders WHERE order_date = DATE '2023-12-31'",
    ) == [("2024-01-05",)]
