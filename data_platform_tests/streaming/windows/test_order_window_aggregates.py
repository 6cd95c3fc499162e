"""The asset end to end: real broker, real local Spark, real DuckDB file."""

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from data_platform import warehouse
from data_platform.kafka.local_broker import LocalBroker
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.windows.assets import order_window_aggregates
from data_platform.streaming.windows.spark_resource import SparkResource
from data_platform_tests.streaming.windows.conftest import POISON, event, new_topic, produce

pytestmark = [pytest.mark.spark, pytest.mark.kafka]


def materialize(
    topic: str, broker: LocalBroker, wh: WarehouseResource, checkpoints: Path, **config: object
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [order_window_aggregates],
        resources={
            "spark": SparkResource(reuse_active_session=True, checkpoint_root=str(checkpoints)),
            "kafka": KafkaResource(bootstrap_servers=broker.bootstrap_servers, orders_topic=topic),
            "warehouse": wh,
        },
        run_config={"ops": {"order_window_aggregates": {"config": config}}},
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    [mat] = result.asset_materializations_for_node("order_window_aggregates")
    return {k: v.value for k, v in mat.metadata.items()}


def table(path: Path, with_updated_at: bool = False) -> list[tuple]:
    extra = ", updated_at" if with_updated_at else ""
    with warehouse.connect(path, read_only=True) as conn:
        return conn.execute(
            f"SELECT window_start, window_end, customer_id, order_count, total_amount{extra} "
            "FROM stream.order_window_aggregates ORDER BY window_start, customer_id"
        ).fetchall()


def w(minute: int) -> tuple[datetime, datetime]:
    return datetime(2024, 3, 1, 12, minute), datetime(2024, 3, 1, 12, minute + 5)


FIRST = [  # (order, customer, amount, event time 2024-03-01T12:MM:SSZ)
    ("o1", "c1", 10.00, "12:01:00"), ("o2", "c1", 5.50, "12:04:59"), ("o3", "c2", 1.25, "12:03:00"),
    ("o4", "c1", 2.00, "12:05:00"), ("o5", "c2", 3.10, "12:12:00"), ("o6", "c1", 4.00, "12:30:00"),
]  # fmt: skip


def events(rows: list[tuple[str, str, float, str]]) -> list[tuple[bytes, bytes]]:
    return [(c.encode(), event(o, c, a, f"2024-03-01T{t}Z")) for o, c, a, t in rows]


def test_windows_exact_late_data_and_rerun_is_a_no_op(
    spark_session: SparkSession, kafka_broker: LocalBroker, warehouse: WarehouseResource,
    warehouse_path: Path, tmp_path: Path,
) -> None:  # fmt: skip
    topic = new_topic(kafka_broker)
    produce(kafka_broker, topic, events(FIRST) + POISON)

    first = materialize(topic, kafka_broker, warehouse, tmp_path / "ckpt")

    assert first.success
    assert table(warehouse_path) == [
        (*w(0), "c1", 2, Decimal("15.50")), (*w(0), "c2", 1, Decimal("1.25")),
        (*w(5), "c1", 1, Decimal("2.00")), (*w(10), "c2", 1, Decimal("3.10")),
        (*w(30), "c1", 1, Decimal("4.00")),
    ]  # fmt: skip
    meta = metadata(first)
    assert meta["input_rows"] == len(FIRST) + len(POISON)
    assert meta["invalid_records_dropped"] == len(POISON)
    assert (meta["valid_events"], meta["late_records"], meta["windows_updated"]) == (6, 0, 5)
    assert meta["watermark"].startswith("2024-03-01T12:20:00")  # max event 12:30 - 10 minutes
    # Where the time went: Spark's trigger phases, the sink's share inside its batches.
    phases = meta["seconds_by_phase"]
    assert phases["sink_to_pandas"] > 0 and phases["sink_duckdb"] > 0
    assert phases["triggerExecution"] >= phases["addBatch"] >= phases["sink_duckdb"]

    # Next trigger: 12:02 is 28 minutes behind the max seen (its window closed at 12:05 <=
    # watermark 12:20): dropped and reported late. 12:24 is within 10 minutes: counted.
    produce(kafka_broker, topic, events([("o7", "c1", 100.0, "12:02:00"),
                                         ("o8", "c2", 7.00, "12:24:00"),
                                         ("o9", "c2", 1.00, "12:31:00")]))  # fmt: skip
    second = materialize(topic, kafka_broker, warehouse, tmp_path / "ckpt")

    assert second.success
    meta = metadata(second)
    assert (meta["valid_events"], meta["late_records"], meta["windows_updated"]) == (3, 1, 2)
    assert meta["rows_dropped_by_watermark_progress"] == 1
    [check] = second.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN  # 1/3 > 5%
    rows = table(warehouse_path)
    assert (*w(0), "c1", 2, Decimal("15.50")) in rows  # the late event changed nothing
    assert (*w(20), "c2", 1, Decimal("7.00")) in rows
    assert (*w(30), "c2", 1, Decimal("1.00")) in rows and len(rows) == 7

    before = table(warehouse_path, with_updated_at=True)
    third = materialize(topic, kafka_broker, warehouse, tmp_path / "ckpt")

    assert third.success
    assert table(warehouse_path, with_updated_at=True) == before
    meta = metadata(third)
    assert (meta["input_rows"], meta["windows_updated"], meta["late_records"]) == (0, 0, 0)


def test_fault_inside_foreach_batch_then_rerun_equals_uninterrupted_run(
    spark_session: SparkSession, kafka_broker: LocalBroker, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    topic = new_topic(kafka_broker, partitions=1)
    produce(kafka_broker, topic, events(FIRST))
    clean = WarehouseResource(path=str(tmp_path / "clean.duckdb"))
    crashed = WarehouseResource(path=str(tmp_path / "crashed.duckdb"))
    capped = {"max_offsets_per_trigger": 2}  # three micro-batches

    uninterrupted = materialize(topic, kafka_broker, clean, tmp_path / "clean", **capped)
    assert uninterrupted.success
    assert metadata(uninterrupted)["batches"] >= 3  # maxOffsetsPerTrigger=2 over 6 records

    monkeypatch.setenv("DATA_PLATFORM_FAULTS", "windows.before_commit")
    assert not materialize(topic, kafka_broker, crashed, tmp_path / "crashed", **capped).success
    assert table(crashed.resolved_path()) == []  # rolled back: nothing half-written
    # Now DuckDB commits batch 0, then the step dies before Spark commits it: Spark re-runs it.
    monkeypatch.setenv("DATA_PLATFORM_FAULTS", "windows.after_commit")
    assert not materialize(topic, kafka_broker, crashed, tmp_path / "crashed", **capped).success
    assert table(crashed.resolved_path()) == [(*w(0), "c1", 2, Decimal("15.50"))]  # o1 + o2
    monkeypatch.delenv("DATA_PLATFORM_FAULTS")
    rerun = materialize(topic, kafka_broker, crashed, tmp_path / "crashed", **capped)

    assert rerun.success
    assert metadata(rerun)["batches_replayed"] == 1
    assert table(crashed.resolved_path()) == table(clean.resolved_path())
    assert sum(r[3] for r in table(clean.resolved_path())) == len(FIRST)
