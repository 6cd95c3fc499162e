"""Every numeric knob has bounds: a value outside them fails the run before any work (no Kafka
read, no warehouse write), and the error names the field. Resources built in code fail at
construction, i.e. when the definitions load."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from pydantic import ValidationError

from data_platform.ingestion.assets import raw_orders
from data_platform.kafka.local_broker import free_port
from data_platform.resources import OrdersApiResource, WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch.assets import MicroBatchConfig, orders_microbatch
from data_platform.streaming.windows.assets import OrderWindowsConfig


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.is_failure]
    assert failures, "the run did not fail"
    return "\n".join(str(e.event_specific_data) for e in failures)


@pytest.mark.parametrize(
    ("config", "field", "bound"),
    [
        ({"max_record_bytes": -1}, "max_record_bytes", "greater than or equal to 1"),
        ({"max_record_bytes": 0}, "max_record_bytes", "greater than or equal to 1"),
        ({"dlq_rate_threshold": 1.5}, "dlq_rate_threshold", "less than or equal to 1"),
        ({"dlq_rate_threshold": -0.1}, "dlq_rate_threshold", "greater than or equal to 0"),
        ({"ranges": [{"partition": -1, "start": 0, "end": 5}]}, "partition", ">= 0"),
        ({"ranges": [{"partition": 0, "start": -5, "end": 5}]}, "start", ">= 0"),
        ({"ranges": [{"partition": 0, "start": 10, "end": 5}]}, "end (5) is before start", ""),
    ],
)
def test_micro_batch_run_config_out_of_bounds_fails_before_any_work(
    config: dict, field: str, bound: str, warehouse: WarehouseResource, warehouse_path: Path
) -> None:
    kafka = KafkaResource(bootstrap_servers=f"127.0.0.1:{free_port()}")  # nothing listens
    result = dg.materialize(
        [orders_microbatch],
        resources={"kafka": kafka, "warehouse": warehouse},
        run_config={"ops": {"orders_microbatch": {"config": {"topic": "orders", **config}}}},
        raise_on_error=False,
    )
    message = _failure_message(result)
    assert field in message
    assert "MicroBatchConfig" in message or "RangeConfig" in message
    assert bound.replace(">= ", "greater than or equal to ") in message
    assert not warehouse_path.exists()  # refused before the warehouse was opened
    assert "NoBrokersAvailable" not in message and "unavailable" not in message.lower()


def test_the_defaults_are_within_bounds() -> None:
    assert MicroBatchConfig().max_record_bytes > 0
    OrdersApiResource()
    WarehouseResource()
    OrderWindowsConfig()


@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    [
        (OrdersApiResource, {"page_size": 0}, "page_size"),
        (OrdersApiResource, {"max_pages": 0}, "max_pages"),
        (OrdersApiResource, {"max_retries": -1}, "max_retries"),
        (OrdersApiResource, {"connect_timeout_seconds": 0}, "connect_timeout_seconds"),
        (OrdersApiResource, {"read_timeout_seconds": -3}, "read_timeout_seconds"),
        (OrdersApiResource, {"backoff_seconds": -1}, "backoff_seconds"),
        (OrdersApiResource, {"demo_orders_per_day": -5}, "demo_orders_per_day"),
        (WarehouseResource, {"lock_timeout_seconds": -1}, "lock_timeout_seconds"),
        (OrderWindowsConfig, {"late_share_threshold": 2.0}, "late_share_threshold"),
        (OrderWindowsConfig, {"max_offsets_per_trigger": 0}, "max_offsets_per_trigger"),
        (MicroBatchConfig, {"max_record_bytes": 2**40}, "max_record_bytes"),
    ],
)
def test_out_of_bounds_values_are_refused_naming_the_field(cls, kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        cls(**kwargs)


def test_resource_config_at_launch_out_of_bounds_fails_naming_the_field(
    warehouse: WarehouseResource, warehouse_path: Path
) -> None:
    result = dg.materialize(
        [raw_orders],
        partition_key="2024-01-15",
        resources={"orders_api": OrdersApiResource.configure_at_launch(), "warehouse": warehouse},
        run_config={"resources": {"orders_api": {"config": {"read_timeout_seconds": -2.0}}}},
        raise_on_error=False,
    )
    message = _failure_message(result)
    assert "read_timeout_seconds" in message and "greater than 0" in message
    assert not warehouse_path.exists()
