"""The `orders_dlq` materialization shows the table's contents, and its figures agree with SQL."""

import dagster as dg
import pytest

from data_platform.resources import WarehouseResource
from data_platform.streaming.microbatch.dlq_contents import PAYLOAD_CHARS, cut, payload_preview
from data_platform_tests.streaming.microbatch.test_microbatch import produce

pytestmark = pytest.mark.kafka


def test_cut_keeps_one_line_of_at_most_the_limit() -> None:
    assert cut("short", 10) == "short"
    assert cut("a\nb\tc", 10) == "a\\nb\\tc"
    assert cut("x" * 100, 80) == "x" * 79 + "…"
    assert payload_preview(None, None) == "(null value: tombstone)"
    assert payload_preview(b"\xff\xfe", None).startswith("(2 bytes, not UTF-8) ff fe")
    assert len(payload_preview(b"{" * 500, "{" * 500)) == PAYLOAD_CHARS


def test_dlq_materialization_shows_the_whole_table(
    kafka, harness_factory, warehouse: WarehouseResource, instance: dg.DagsterInstance
) -> None:
    produce(kafka, 3_000, invalid_rate=0.03, seed=7)
    runs = harness_factory(max_records_per_batch=1_000).drain()
    assert len(runs) >= 2  # so the table's total is more than the last batch's count
    event = instance.get_latest_materialization_event(dg.AssetKey("orders_dlq"))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata

    with warehouse.connect(read_only=True) as conn:
        (total,) = conn.execute("SELECT COUNT(*) FROM stream.orders_dlq").fetchone()
        by_reason = dict(
            conn.execute("SELECT error_code, COUNT(*) FROM stream.orders_dlq GROUP BY 1").fetchall()
        )
        latest = conn.execute(
            """SELECT topic, "partition", "offset", error_code FROM stream.orders_dlq
               ORDER BY ingested_at DESC, topic, "partition", "offset" DESC LIMIT 10"""
        ).fetchall()
        columns = [
            name
            for (name,) in conn.execute(
                """SELECT column_name FROM information_schema.columns
                   WHERE table_schema = 'stream' AND table_name = 'orders_dlq'
                   ORDER BY ordinal_position"""
            ).fetchall()
        ]
    assert total > metadata["records_dead_lettered"].value > 0
    assert metadata["dagster/row_count"].value == total
    assert metadata["rows_by_reason"].value == by_reason
    assert sum(by_reason.values()) == total

    preview = metadata["latest_dead_letters"].value
    assert len(preview.records) == min(10, total)
    assert [
        (r.data["topic"], r.data["partition"], r.data["offset"], r.data["reason"])
        for r in preview.records
    ] == latest
    assert all(len(r.data["payload"]) <= PAYLOAD_CHARS for r in preview.records)
    assert all(r.data["message"] for r in preview.records)

    schema = metadata["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == columns
    offset = next(c for c in schema.columns if c.name == "offset")
    assert offset.type == "BIGINT" and offset.constraints.nullable is False
