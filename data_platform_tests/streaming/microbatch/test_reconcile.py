"""A run that died after its warehouse commit is reported, from the ledger, as a materialization
of orders_events and orders_dlq naming the run and its ranges: once, and only for dead runs that
reported nothing."""

import subprocess
import sys
import time

import dagster as dg
import pytest

from data_platform.faults import FAULTS_ENV
from data_platform.kafka.ranges import PartitionRange, format_ranges
from data_platform.streaming.microbatch.reconcile import (
    RECONCILED_TAG,
    dead_run_materializations,
    recent_ledger_rows,
)
from data_platform.streaming.microbatch.stream_store import LedgerUnavailable
from data_platform_tests.streaming.microbatch.test_exactly_once import ranges_of
from data_platform_tests.streaming.microbatch.test_microbatch import produce

pytestmark = pytest.mark.kafka


def test_a_batch_committed_by_a_run_that_died_is_reported_once(
    kafka, harness_factory, warehouse, instance, monkeypatch
) -> None:
    produce(kafka, 400, invalid_rate=0.05)
    harness = harness_factory()
    (request,) = harness.tick().run_requests
    monkeypatch.setenv(FAULTS_ENV, "microbatch.after_warehouse_commit")
    dead = harness.execute(request)
    monkeypatch.delenv(FAULTS_ENV)
    assert not dead.success and not dead.get_asset_materialization_events()
    ledger = recent_ledger_rows(warehouse.resolved_path(), kafka.orders_topic)
    assert {row.run_id for row in ledger} == {dead.run_id}

    events = dead_run_materializations(instance, kafka.orders_topic, ledger)
    assert [e.asset_key.to_user_string() for e in events] == ["orders_events", "orders_dlq"]
    expected = format_ranges([PartitionRange(p, s, e) for p, (s, e) in ranges_of(request).items()])
    for event in events:
        assert event.metadata["ranges"].value == expected
        assert event.metadata["committed_by_run"].value == dead.run_id
        assert event.metadata["offsets_committed"].value == 400
        assert event.metadata["run_status"].value == "FAILURE"
    assert instance.get_run_by_id(dead.run_id).tags[RECONCILED_TAG] == "reported"
    assert dead_run_materializations(instance, kafka.orders_topic, ledger) == []  # once

    # As the daemon stores a sensor's asset events: the asset's history now has the batch.
    for event in events:
        instance.report_runless_asset_event(event)
    latest = instance.get_latest_materialization_event(dg.AssetKey("orders_events"))
    assert latest is not None
    assert latest.asset_materialization.metadata["committed_by_run"].value == dead.run_id


def test_runs_that_succeeded_or_reported_are_left_alone(
    kafka, harness_factory, warehouse, instance
) -> None:
    produce(kafka, 200)
    harness_factory().drain()
    ledger = recent_ledger_rows(warehouse.resolved_path(), kafka.orders_topic)
    assert ledger and dead_run_materializations(instance, kafka.orders_topic, ledger) == []
    assert dead_run_materializations(instance, kafka.orders_topic, []) == []


def test_the_ledger_read_never_waits(warehouse, tmp_path) -> None:
    assert recent_ledger_rows(tmp_path / "absent.duckdb", "orders") == []
    with warehouse.connect() as conn:  # an empty warehouse: no stream schema yet
        conn.execute("SELECT 1").fetchall()
    assert recent_ledger_rows(warehouse.resolved_path(), "orders") == []
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); time.sleep(60)", str(warehouse.resolved_path())],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(LedgerUnavailable):
            recent_ledger_rows(warehouse.resolved_path(), "orders")
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
