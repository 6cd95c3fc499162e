"""Kafka micro-batch throughput, side by side on one local broker and the same 200k events.

1. bare consume: kafka-python assign + seek + poll, no processing (the ceiling);
   ... and the micro-batch's own range reader with nothing done per record (its ceiling);
2. micro-batch: the real sensor (default settings) plans batches and each requested run of the
   micro-batch job executes in process (read exact ranges, validate, DLQ, one DuckDB
   transaction, commit), timed from the first tick until every event is in the warehouse;
3. per-message loop: the classic consumer (validate, DLQ, commit after every record), capped
   and extrapolated because it is slow.
Targets: (2) >= 60% of (1) and >= 10x (3).
"""

import gc
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from data_platform.lib import event_producer, kafka_io, order_events
from data_platform.lib.kafka_offsets import PartitionRange
from data_platform.lib.kafka_wire import RangeFetcher
from data_platform.lib.local_broker import LocalBroker
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch import assets, jobs
from data_platform.streaming.microbatch.sensor import build_orders_kafka_sensor

EVENTS = int(os.environ.get("BENCH_KAFKA_EVENTS", "200000"))
LOOP_CAP = int(os.environ.get("BENCH_KAFKA_LOOP_CAP", "5000"))
INVALID_RATE = 0.01
# The ceiling gets kafka-python's best settings too: large fetches, no idle wait at the end.
LARGE_FETCH = {
    "fetch_max_wait_ms": 50,
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
    "fetch_max_bytes": 64 * 1024 * 1024,
}
ROUNDS = int(os.environ.get("BENCH_KAFKA_ROUNDS", "3"))
RUN_STEP_RATES: list[float] = []


def bare_consume(kafka: KafkaResource, highwaters: dict[int, int], **settings: Any) -> float:
    """assign + seek + poll and count, nothing else: the ceiling. The cyclic garbage collector is
    off meanwhile, as in the micro-batch's reader processes: with Dagster imported, its passes
    over 200k fresh records cost this loop ~25%."""
    gc.collect()
    gc.disable()
    try:
        return _bare_consume(kafka, highwaters, **settings)
    finally:
        gc.enable()


def _bare_consume(kafka: KafkaResource, highwaters: dict[int, int], **settings: Any) -> float:
    consumer = KafkaConsumer(enable_auto_commit=False, **kafka.bounded_config(), **settings)
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


def microbatch(kafka: KafkaResource, warehouse: WarehouseResource) -> float:
    """Sensor ticks + in-process runs until every event is loaded: the end-to-end rate (the
    step-only rate goes to RUN_STEP_RATES). The sensor and the run config are the defaults."""
    sensor = build_orders_kafka_sensor()
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
        while read < EVENTS:
            context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
            result = sensor_def(context)
            assert isinstance(result, dg.SensorResult), result
            cursor = result.cursor
            for request in result.run_requests:
                run = job.execute_in_process(
                    run_config=request.run_config, instance=instance, tags=request.tags
                )
                meta = run.asset_materializations_for_node("orders_microbatch")[0].metadata
                read += meta["records_read"].value
                step_seconds += meta["seconds"].value
                runs += 1
        seconds = time.perf_counter() - started  # every event is in the warehouse now
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        assert isinstance(sensor_def(context), dg.SkipReason)  # and the sensor knows it
    assert read == EVENTS and runs == 1, (read, runs)
    RUN_STEP_RATES.append(read / step_seconds)
    return read / seconds


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
        seconds = time.perf_counter() - started
        print(f"produced {EVENTS} events ({INVALID_RATE:.0%} poison) in {seconds:.1f}s; "
              f"{ROUNDS} interleaved rounds, medians")  # fmt: skip
        highwaters = kafka_io.probe_highwaters(
            kafka.bounded_config(), kafka.orders_topic, {0: 0, 1: 0, 2: 0}, 10
        )
        assert sum(highwaters.values()) == EVENTS, highwaters
        samples: dict[str, list[float]] = {}
        for i in range(ROUNDS):  # interleaved, so a slow spell of the machine hits every variant
            for name, measure in (
                ("bare_default", lambda: bare_consume(kafka, highwaters)),
                ("bare_large", lambda: bare_consume(kafka, highwaters, **LARGE_FETCH)),
                ("bare_wire", lambda: bare_wire(kafka, highwaters)),
                ("microbatch", lambda i=i: microbatch(kafka, warehouse(tmp, i))),
            ):
                samples.setdefault(name, []).append(measure())
        loop = per_message_loop(kafka, min(LOOP_CAP, EVENTS))
    med = {name: statistics.median(values) for name, values in samples.items()}
    bare = max(med["bare_default"], med["bare_large"])
    step = statistics.median(RUN_STEP_RATES)
    rows = [
        ("bare kafka-python consume, default fetch", med["bare_default"], "KafkaConsumer"),
        ("bare kafka-python consume, large fetches", med["bare_large"], "KafkaConsumer"),
        ("bare read through the micro-batch reader", med["bare_wire"], "RangeFetcher, no work"),
        ("micro-batch end to end (defaults)", med["microbatch"], "sensor tick + 1 run"),
        ("  of which the step alone", step, "excl. sensor tick and Dagster bookkeeping"),
        ("per-message validate+commit loop", loop, f"first {LOOP_CAP} records, extrapolated"),
    ]
    for name, rate, note in rows:
        print(f"{name:<44} {rate:>10,.0f} records/s  {note}")
    print("rounds (records/s): " + "; ".join(
        f"{name} " + ", ".join(f"{v:,.0f}" for v in values) for name, values in samples.items()
    ))  # fmt: skip
    ratio, loops = med["microbatch"] / bare, med["microbatch"] / loop
    print(f"micro-batch (defaults) end to end / bare kafka-python consume = {ratio:.0%} "
          f"(target >= 60%); / bare read through its own reader = "
          f"{med['microbatch'] / med['bare_wire']:.0%}; "
          f"micro-batch / per-message loop = {loops:.1f}x (target >= 10x)")  # fmt: skip


def bare_wire(kafka: KafkaResource, highwaters: dict[int, int]) -> float:
    """The micro-batch's own reader with nothing done per record: the ceiling of its path."""
    ranges = [PartitionRange(p, 0, hw) for p, hw in highwaters.items()]
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        fetcher = RangeFetcher(kafka.bounded_config(), kafka.orders_topic, ranges)
        total = sum(len(chunk) for chunk in fetcher)
        return total / (time.perf_counter() - started)
    finally:
        gc.enable()


def warehouse(tmp: str, round_: int) -> WarehouseResource:
    """A fresh, empty warehouse per measurement."""
    return WarehouseResource(path=str(Path(tmp) / f"round{round_}.duckdb"))
