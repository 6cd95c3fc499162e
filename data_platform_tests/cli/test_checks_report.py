"""`data-platform checks` against a real Dagster instance (the repo's dagster.yaml in a temp
DAGSTER_HOME) after real materializations of raw_orders and of a test-only probe asset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import dagster as dg
import pytest

from data_platform.cli import main as cli
from data_platform.ingestion.assets import raw_orders
from data_platform.resources import OrdersApiResource, WarehouseResource
from data_platform_tests.cli import checks_probe_defs

PROBE_MODULE = checks_probe_defs.__name__
RAW_ORDERS_CHECKS = {
    "partition_not_empty", "order_date_within_partition", "required_fields_not_null",
    "null_customer_share",
}  # fmt: skip
DAY = "2024-03-01"


@pytest.fixture
def home_instance(
    dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """The instance `data-platform checks` will read: DAGSTER_HOME with the repo's dagster.yaml."""
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        yield instance


class CraftedOrdersHandler(BaseHTTPRequestHandler):
    """The orders API contract, answering two orders for any day: one that belongs to the day,
    and one dated the day before and without a customer (a stray row: fails the ERROR check
    `order_date_within_partition`, and the WARN check `null_customer_share`)."""

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        day = date.fromisoformat(query["date"][0])
        rows = [
            {"order_id": f"OK-{day}", "customer_id": "C-1", "order_date": day.isoformat(),
             "total_amount": "12.50", "currency": "USD", "status": "shipped",
             "updated_at": f"{day}T10:00:00"},
            {"order_id": f"STRAY-{day}", "customer_id": None,
             "order_date": (day - timedelta(days=1)).isoformat(), "total_amount": "$3.00",
             "currency": "usd", "status": "pending", "updated_at": f"{day}T11:00:00"},
        ]  # fmt: skip
        body = json.dumps({"data": rows, "page": 1, "next_page": None}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def crafted_orders_api() -> Iterator[OrdersApiResource]:
    """A real HTTP server on loopback serving the crafted orders above."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), CraftedOrdersHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield OrdersApiResource(base_url=f"http://127.0.0.1:{server.server_port}", max_retries=0)
    finally:
        server.shutdown()
        server.server_close()


def materialize_raw_orders(
    instance: dg.DagsterInstance,
    warehouse: WarehouseResource,
    api: OrdersApiResource,
    blocked: bool = False,
) -> None:
    """`blocked`: a blocking ERROR check is expected to fail the step (the crafted source)."""
    result = dg.materialize(
        [raw_orders], partition_key=DAY, instance=instance,
        resources={"warehouse": warehouse, "orders_api": api}, raise_on_error=False,
    )  # fmt: skip
    assert result.success is not blocked


def materialize_probe(instance: dg.DagsterInstance, **config: bool) -> None:
    dg.materialize(
        [checks_probe_defs.quality_probe],
        instance=instance,
        run_config=dg.RunConfig({"quality_probe": checks_probe_defs.ProbeConfig(**config)}),
        raise_on_error=False,
    )


def run_checks(capsys: pytest.CaptureFixture[str], fmt: str) -> tuple[int, str]:
    code = cli.main(["checks", "--format", fmt, "--module", PROBE_MODULE])
    return code, capsys.readouterr().out


def json_rows(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, dict[str, dict]]:
    code, out = run_checks(capsys, "json")
    document = json.loads(out)
    return code, document, {f"{r['asset']}:{r['check']}": r for r in document["checks"]}


def test_every_format_lists_latest_raw_orders_checks(
    home_instance: dg.DagsterInstance,
    warehouse: WarehouseResource,
    orders_api: OrdersApiResource,
    capsys: pytest.CaptureFixture[str],
) -> None:
    materialize_raw_orders(home_instance, warehouse, orders_api)

    code, document, rows = json_rows(capsys)
    assert code == 0 and document["ok"] is True
    for name in RAW_ORDERS_CHECKS:
        row = rows[f"raw_orders:{name}"]
        assert row["result"] == "PASSED" and row["partition"] == DAY and row["evaluated_at"]
    assert rows["raw_orders:order_date_within_partition"]["metadata"]["failing_rows"] == 0
    assert rows["raw_orders:null_customer_share"]["severity"] == "WARN"
    assert rows["raw_orders:partition_not_empty"]["severity"] == "ERROR"
    # Declared but never evaluated checks are listed, not hidden, and do not gate.
    assert rows["quality_probe:probe_error_check"]["result"] == "NEVER_RUN"

    code, table = run_checks(capsys, "table")
    assert code == 0
    lines = table.splitlines()
    assert lines[0].split()[:6] == ["asset", "check", "partition", "result", "severity", "when"]
    for name in RAW_ORDERS_CHECKS:
        line = next(line for line in lines if f" {name} " in line)
        assert line.startswith("raw_orders") and DAY in line and "PASSED" in line
    assert "failing_rows=0" in table
    assert "no ERROR-severity failures" in lines[-1]

    code, markdown = run_checks(capsys, "markdown")
    assert code == 0
    assert markdown.startswith("| asset | check | partition | result | severity | when | details |")
    assert f"| raw_orders | required_fields_not_null | {DAY} | PASSED | ERROR |" in markdown


def test_failing_error_check_exits_non_zero(
    home_instance: dg.DagsterInstance,
    warehouse: WarehouseResource,
    crafted_orders_api: OrdersApiResource,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A stray row dated outside its partition fails raw_orders' ERROR check."""
    materialize_raw_orders(home_instance, warehouse, crafted_orders_api, blocked=True)

    code, document, rows = json_rows(capsys)
    assert code == 1 and document["ok"] is False and document["failing_error_checks"] == 1
    failed = rows["raw_orders:order_date_within_partition"]
    assert (failed["result"], failed["severity"], failed["blocks"]) == ("FAILED", "ERROR", True)
    assert failed["metadata"]["failing_rows"] == 1
    warned = rows["raw_orders:null_customer_share"]
    assert (warned["result"], warned["severity"], warned["blocks"]) == ("FAILED", "WARN", False)
    assert warned["metadata"]["null_customer_rows"] == 1
    assert rows["raw_orders:required_fields_not_null"]["result"] == "PASSED"

    code, table = run_checks(capsys, "table")
    assert code == 1
    line = next(x for x in table.splitlines() if " order_date_within_partition " in x)
    assert "FAILED" in line and "ERROR" in line and "failing_rows=1" in line
    assert "ERROR-severity failures: raw_orders:order_date_within_partition" in table
    code, markdown = run_checks(capsys, "markdown")
    assert code == 1
    assert f"| raw_orders | order_date_within_partition | {DAY} | **FAILED** | ERROR |" in markdown
    assert f"| raw_orders | null_customer_share | {DAY} | FAILED | WARN |" in markdown


def test_gate_follows_the_latest_evaluation_and_ignores_warn(
    home_instance: dg.DagsterInstance, capsys
) -> None:
    materialize_probe(home_instance, fail_warn=True)
    code, _, rows = json_rows(capsys)
    assert code == 0, "a failing WARN check must not fail the gate"
    assert rows["quality_probe:probe_warn_check"]["result"] == "FAILED"
    assert rows["quality_probe:probe_warn_check"]["metadata"]["failing_rows"] == 7
    assert rows["quality_probe:probe_error_check"]["result"] == "PASSED"

    materialize_probe(home_instance, fail_error=True)
    code, _, rows = json_rows(capsys)
    assert code == 1
    assert rows["quality_probe:probe_error_check"]["metadata"]["failing_rows"] == 3
    assert rows["quality_probe:probe_warn_check"]["result"] == "PASSED"

    materialize_probe(home_instance)  # fixed: the latest evaluation passes again
    code, _, _ = json_rows(capsys)
    assert code == 0


def test_check_whose_run_crashed_blocks(home_instance: dg.DagsterInstance, capsys) -> None:
    """A planned check that never got evaluated because the step died cannot vouch for data."""
    materialize_probe(home_instance, crash=True)
    code, _, rows = json_rows(capsys)
    assert code == 1
    assert rows["quality_probe:probe_error_check"]["result"] == "EXECUTION_FAILED"


def test_console_script_exit_code_gates(
    home_instance: dg.DagsterInstance,
    warehouse: WarehouseResource,
    orders_api: OrdersApiResource,
    crafted_orders_api: OrdersApiResource,
    dagster_home: Path,
) -> None:
    """The installed `data-platform checks` command, in its own process, reads DAGSTER_HOME."""
    script = Path(sys.executable).with_name("data-platform")
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}

    materialize_raw_orders(home_instance, warehouse, orders_api)
    ok = subprocess.run([script, "checks"], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "required_fields_not_null" in ok.stdout

    materialize_raw_orders(home_instance, warehouse, crafted_orders_api, blocked=True)
    bad = subprocess.run([script, "checks", "--format", "markdown"], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 1, bad.stderr[-2000:]
    assert "**FAILED**" in bad.stdout
