"""The Kafka part of `data-platform demo`: produce events with poison, let the real sensor plan
micro-batches, run each requested batch through Dagster, and show what was loaded and
dead-lettered."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from data_platform import warehouse
from data_platform.cli import earlier_broker
from data_platform.cli.demo_console import say
from data_platform.cli.produce_orders import produce_orders
from data_platform.kafka import client
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch import stream_store

SENSOR = "orders_kafka_sensor"
DEMO_EVENTS = 3_000
DEMO_INVALID_RATE = 0.03
MAX_TICKS = 10

# The demo prints its own summary; the runs' debug events stay in the instance (and the UI).
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _forget_if_broker_restarted(kafka: KafkaResource) -> None:
    """The local broker keeps topics in memory: after a restart its offsets begin again at 0,
    so the previous demo's rows for the topic would shadow the new records."""
    deleted = earlier_broker.forget_ledger_ahead(kafka)
    if deleted:
        say(f"broker restarted since the last demo: cleared {kafka.orders_topic!r} rows {deleted}")


def tick_and_run(kafka: KafkaResource) -> int:
    """Evaluate the sensor like the daemon does and execute each run it requests."""
    from data_platform.definitions import defs  # the real code location

    instance = dg.DagsterInstance.get()
    sensor = defs.resolve_sensor_def(SENSOR)
    if sensor.job_name is None:
        raise SystemExit(f"sensor {SENSOR} targets no job")
    job = defs.resolve_job_def(sensor.job_name)
    cursor, runs = None, 0
    for _ in range(MAX_TICKS):
        context = dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            sensor_name=SENSOR,
            resources={"kafka": kafka, "warehouse": WarehouseResource()},
        )
        result = sensor(context)
        if isinstance(result, dg.SkipReason) or result is None:
            say(f"sensor: skip ({result.skip_message if result else 'nothing'})")
            return runs
        if not isinstance(result, dg.SensorResult):
            raise SystemExit(f"sensor {SENSOR} returned {type(result).__name__}, not a result")
        cursor = result.cursor
        for request in result.run_requests or ():
            say(f"sensor: run requested, key {request.run_key!r}")
            tags = {**request.tags, "dagster/sensor_name": SENSOR}
            run = job.execute_in_process(
                run_config={**request.run_config, **QUIET_LOGS},
                instance=instance,
                tags=tags,
                raise_on_error=False,
            )
            if not run.success:
                raise SystemExit(f"micro-batch run {run.run_id} failed")
            runs += 1
    return runs


def _summarise(print_table: Callable[..., None]) -> None:
    with warehouse.connect(warehouse.warehouse_from_env(), read_only=True) as conn:
        rows = [
            (t, warehouse.one_row(conn.execute(f"SELECT COUNT(*) FROM {t}"))[0])  # noqa: S608
            for t in (stream_store.EVENTS, stream_store.DLQ, stream_store.LEDGER)
        ]
        reasons = conn.execute(
            f"""SELECT error_code, COUNT(*), MIN(error_message) FROM {stream_store.DLQ}
                GROUP BY 1 ORDER BY 1"""  # noqa: S608
        ).fetchall()
    print_table("Kafka micro-batch tables", ("table", "rows"), rows)
    print_table(
        "Dead letters by reason",
        ("error_code", "records", "example message"),
        [(c, n, m[:70]) for c, n, m in reasons],
    )


def run_stream_demo(print_table: Callable[..., None]) -> None:
    kafka = KafkaResource()
    say(f"\nKafka micro-batches via {kafka.resolved_bootstrap_servers()}")
    try:
        kafka.ensure_topics()
    except client.BrokerUnavailable as exc:
        say(f"skipped: no Kafka broker ({exc}); `make demo` starts a local one")
        return
    _forget_if_broker_restarted(kafka)
    runs = 0
    for wave in (1, 2):  # two waves: the second batch starts exactly where the first ended
        sent = produce_orders(
            kafka, DEMO_EVENTS // 2, invalid_rate=DEMO_INVALID_RATE, late_rate=0.05, seed=wave
        )
        poison = sum(1 for *_, r in sent if r.poison)
        say(f"produced {len(sent)} order events ({poison} poison) to {kafka.orders_topic!r}")
        runs += tick_and_run(kafka)
    say(f"{runs} sensor-requested micro-batch run(s) finished")
    _summarise(print_table)
