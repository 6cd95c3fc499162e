"""Fixtures for the Kafka micro-batch tests: a fresh topic pair per test on the session broker,
definitions wired to the temp warehouse, and helpers to tick the sensor and run its requests."""

import uuid
from collections.abc import Callable

import dagster as dg
import pytest

from data_platform.kafka.local_broker import LocalBroker
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch import assets, jobs
from data_platform.streaming.microbatch.sensor import build_orders_kafka_sensor


@pytest.fixture
def kafka(kafka_broker: LocalBroker) -> KafkaResource:
    """Unique topics and group per test: the broker is shared by the whole session."""
    uid = uuid.uuid4().hex[:10]
    resource = KafkaResource(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        orders_topic=f"orders-{uid}",
        dlq_topic=f"orders-dlq-{uid}",
        consumer_group=f"group-{uid}",
    )
    resource.ensure_topics()
    return resource


def make_defs(kafka: KafkaResource, warehouse: WarehouseResource, **sensor_args: int):
    sensor = build_orders_kafka_sensor(**sensor_args)
    return dg.Definitions(
        assets=[assets.orders_microbatch],
        jobs=[jobs.orders_microbatch_job],
        sensors=[sensor],
        resources={"kafka": kafka, "warehouse": warehouse},
    )


class Harness:
    """Tick the sensor like the daemon does (cursor carried over) and execute its requests."""

    def __init__(
        self,
        defs: dg.Definitions,
        instance: dg.DagsterInstance,
        kafka: KafkaResource,
        warehouse: WarehouseResource,
    ) -> None:
        self.defs, self.instance = defs, instance
        self.resources = {"kafka": kafka, "warehouse": warehouse}
        self.cursor: str | None = None

    def tick(self) -> dg.SensorResult | dg.SkipReason:
        sensor = self.defs.resolve_sensor_def("orders_kafka_sensor")
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources=self.resources
        )
        result = sensor(context)
        if isinstance(result, dg.SensorResult) and result.cursor is not None:
            self.cursor = result.cursor
        return result

    def execute(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_job_def(jobs.JOB_NAME)
        return job.execute_in_process(
            run_config=request.run_config,
            instance=self.instance,
            tags=request.tags,
            raise_on_error=False,
        )

    def drain(self, max_ticks: int = 20) -> list[dg.ExecuteInProcessResult]:
        """Tick and run until the sensor has nothing left to plan; every run must succeed."""
        results = []
        for _ in range(max_ticks):
            result = self.tick()
            if not isinstance(result, dg.SensorResult):
                return results
            for request in result.run_requests:
                run = self.execute(request)
                assert run.success, request.run_key
                results.append(run)
        raise AssertionError(f"still planning after {max_ticks} ticks")


@pytest.fixture
def harness_factory(
    kafka: KafkaResource, warehouse: WarehouseResource, instance: dg.DagsterInstance
) -> Callable[..., Harness]:
    def factory(**sensor_args: int) -> Harness:
        return Harness(make_defs(kafka, warehouse, **sensor_args), instance, kafka, warehouse)

    return factory
