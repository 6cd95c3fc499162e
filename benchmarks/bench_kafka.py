"""Kafka micro-batch throughput, side by side on one local broker and the same 200k events.

1. bare consume: kafka-python assign + seek + poll, no processing (the ceiling);
2. micro-batch: the real sensor plans batches and each requested run of the micro-batch job
   executes in process (read exact ranges, validate, DLQ, one DuckDB transaction, commit);
3. per-message loop: the classic consumer (validate, DLQ, commit after every record), capped
   and extrapolated because it is slow.
Targets: (2) >= 60% of (1) and >= 10x (3).
"""

import os
import tempfile
import time
from pathlib import Path

import dagster as dg
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from data_platform.lib import event_producer, kafka_io, order_events
from data_platform.lib.local_broker import LocalBroker
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch import assets, jobs
from data_platform.streaming.microbatch.sensor import DEFAULT_MAX_RECORDS, build_orders_kafka_sensor

EVENTS = int(os.environ.get("BENCH_KAFKA_EVENTS", "200000"))
LOOP_CAP = int(os.environ.get("BENCH_KAFKA_LOOP_CAP", "5000"))
INVALID_RATE = 0.01


def bare_consume(kafka: KafkaResource, highwaters: dict[int, int]) -> float:
    consumer = KafkaConsumer(enable_auto_commit=False, **kafka.bounded_config())
    tps = [TopicPartition(kafka.orders_topic, p) for p in highwaters]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    total, wanted = 0, sum(highwaters.values())
    started = time.perf_counter()
    while total < wanted:
        for records in consumer.poll(timeout_ms=500, max_records=50_000).values():
            total += len(records)
    seconds = time.perf_counter() - started
    consumer.close()
    return total / seconds


def microbatch(
    kafka: KafkaResource,
    warehouse: WarehouseResource,
    vectorised: bool = False,
    max_records: int = DEFAULT_MAX_RECORDS,
) -> tuple[float, float, int]:
    """Sensor ticks + in-process runs until caught up: (end-to-end rate, step rate, runs)."""
    sensor = build_orders_kafka_sensor(max_records_per_batch=max_records)
    defs = dg.Definitions(
        assets=[assets.orders_microbatch],
        jobs=[jobs.orders_microbatch_job],
        sensors=[sensor],
        resources={"kafka": kafka, "warehouse": warehouse},
    )
    job = defs.resolve_job_def(jobs.JOB_NAME)
    sensor_def = defs.resolve_sensor_def(sensor.name)
    resources = {"kafka": kafka, "warehouse": warehouse}
    read, step_seconds, runs, cursor = 0, 0.0, 0, None
    with dg.instance_for_test() as instance:
        started = time.perf_counter()
        while True:
            context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
            result = sensor_def(context)
            if not isinstance(result, dg.SensorResult):
                break
            cursor = result.cursor
            for request in result.run_requests:
                config = request.run_config["ops"]["orders_microbatch"]["config"]
                config["vectorised_validation"] = vectorised
                run = job.execute_in_process(
                    run_config=request.run_config, instance=instance, tags=request.tags
                )
                meta = run.asset_materializations_for_node("orders_microbatch")[0].metadata
                read += meta["records_read"].value
                step_seconds += meta["seconds"].value
                runs += 1
        seconds = time.perf_counter() - started
    return read / seconds, read / step_seconds, runs


def per_message_loop(kafka: KafkaResource, cap: int) -> float:
    """The reference pattern: validate, DLQ the bad, commit after every single record."""
    config = kafka.bounded_config()
    consumer = KafkaConsumer(enable_auto_commit=False, group_id="bench-loop", **config)
    producer = KafkaProducer(**config)
    tps = [TopicPartition(kafka.orders_topic, p) for p in (0, 1, 2)]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    done = 0
    started = time.perf_counter()
    while done < cap:
        for tp, records in consumer.poll(timeout_ms=500, max_records=100).items():
            for record in records:
                result = order_events.validate_value(record.value)
                if isinstance(result, order_events.EventError):
                    producer.send(kafka.dlq_topic, key=record.key, value=record.value).get()
                consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "", -1)})
                done += 1
    seconds = time.perf_counter() - started
    consumer.close()
    producer.close()
    return done / seconds


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp, LocalBroker(log_path=Path(tmp) / "b.log") as broker:
        kafka = KafkaResource(bootstrap_servers=broker.bootstrap_servers, orders_topic="bench")
        kafka.ensure_topics()
        started = time.perf_counter()
        records = event_producer.generate(EVENTS, invalid_rate=INVALID_RATE, seed=11)
        event_producer.produce(kafka.bounded_config(), kafka.orders_topic, records)
        print(f"produced {EVENTS} events ({INVALID_RATE:.0%} poison) in "
              f"{time.perf_counter() - started:.1f}s")  # fmt: skip
        highwaters = kafka_io.probe_highwaters(
            kafka.bounded_config(), kafka.orders_topic, {0: 0, 1: 0, 2: 0}, 10
        )
        assert sum(highwaters.values()) == EVENTS, highwaters
        bare = bare_consume(kafka, highwaters)
        fast = microbatch(kafka, WarehouseResource(path=str(Path(tmp) / "fast.duckdb")), True)
        python = microbatch(kafka, WarehouseResource(path=str(Path(tmp) / "py.duckdb")), False)
        whole = microbatch(
            kafka, WarehouseResource(path=str(Path(tmp) / "one.duckdb")), False, EVENTS
        )
        loop = per_message_loop(kafka, min(LOOP_CAP, EVENTS))
    rows = [
        ("bare kafka-python consume (ceiling)", bare, ""),
        ("micro-batch end to end, DuckDB fast path", fast[0], f"{fast[2]} runs"),
        ("  of which the step alone", fast[1], "excl. Dagster run bookkeeping"),
        ("micro-batch end to end (default: Python validator)", python[0], f"{python[2]} runs"),
        ("  of which the step alone", python[1], ""),
        ("micro-batch end to end, one batch of all", whole[0], f"{whole[2]} run (cap {EVENTS})"),
        ("  of which the step alone", whole[1], ""),
        ("per-message validate+commit loop", loop, f"first {LOOP_CAP} records, extrapolated"),
    ]
    for name, rate, note in rows:
        print(f"{name:<44} {rate:>10,.0f} records/s  {note}")
    default = python[0]  # default settings: 50k cap, Python validator
    print(f"micro-batch (default) end to end / bare = {default / bare:.0%} (target >= 60%); "
          f"one batch of all / bare = {whole[0] / bare:.0%}; "
          f"step alone / bare = {max(fast[1], python[1], whole[1]) / bare:.0%}; "
          f"micro-batch / per-message loop = {default / loop:.1f}x (target >= 10x)")  # fmt: skip
