"""Kafka micro-batch throughput, side by side on one local broker and the same 200k events.

Floors, each with the micro-batch reader's own consumer settings (e.g. fetch.queue.backoff.ms=0):
1. bare confluent-kafka consume (assign + consume(num_messages), count only);
2. confluent-kafka + orjson.loads per record: the floor the targets are measured against;
3. bare kafka-python consume, for comparison.
The project: 4. its range reader alone (no work per record); 5. the micro-batch step alone (read,
validate, insert, ledger commit, group commit); 6. the micro-batch end to end (the real sensor
plans the batch, the run executes in process), timed from the first tick until every event is in
the warehouse; 7. the classic per-message loop (validate, DLQ, commit after every record), capped;
8. DuckDB alone inserting and committing the same events from Arrow: the warehouse's share of
the step, which the goal's budget has to hold too.
Goals: (6) >= 50% of (2), (5) >= 80% of (2); (6) >= 10x (7).
"""

import gc
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import orjson
from confluent_kafka import Consumer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaPythonPartition
from kafka.structs import OffsetAndMetadata

from data_platform.kafka import client
from data_platform.kafka import producer as kafka_producer
from data_platform.kafka.local_broker import LocalBroker
from data_platform.kafka.ranges import PartitionRange
from data_platform.orders import event_producer
from data_platform.orders import events as order_events
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch import assets, jobs, loading, stream_store
from data_platform.streaming.microbatch.sensor import build_orders_kafka_sensor
from data_platform.warehouse.sql import quote_ident

EVENTS = int(os.environ.get("BENCH_KAFKA_EVENTS", "200000"))
LOOP_CAP = int(os.environ.get("BENCH_KAFKA_LOOP_CAP", "5000"))
INVALID_RATE = 0.01
ROUNDS = int(os.environ.get("BENCH_KAFKA_ROUNDS", "3"))
RUN_STEP_RATES: list[float] = []
COMMIT_SECONDS: list[float] = []


def _gc_off(measure: Any) -> float:
    """Every read is measured with the cyclic garbage collector off (collected first), as the
    micro-batch step reads (loading.gc_paused): with Dagster imported, its passes over fresh
    objects cost ~25%."""
    gc.collect()
    with loading.gc_paused():
        return measure()


def confluent_consume(kafka: KafkaResource, highwaters: dict[int, int], parse: bool) -> float:
    """assign + consume(num_messages) with the reader's settings; optionally orjson per record."""

    def measure() -> float:
        settings = {**client.READ_SETTINGS, **kafka.librdkafka_config(), "group.id": "bench"}
        consumer = Consumer(settings)
        consumer.assign([TopicPartition(kafka.orders_topic, p, 0) for p in highwaters])
        total, wanted, loads = 0, sum(highwaters.values()), orjson.loads
        started = time.perf_counter()
        while total < wanted:
            for message in consumer.consume(10_000, 0.05):
                if message.error() is None:
                    total += 1
                    if parse:
                        try:  # noqa: SIM105 - a with-block per record would cost the floor
                            loads(message.value())
                        except (orjson.JSONDecodeError, TypeError):
                            pass
        seconds = time.perf_counter() - started
        consumer.close()
        return total / seconds

    return _gc_off(measure)


def kafka_python_consume(kafka: KafkaResource, highwaters: dict[int, int]) -> float:
    def measure() -> float:
        consumer = KafkaConsumer(
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            **kafka.bounded_config(),
        )
        tps = [KafkaPythonPartition(kafka.orders_topic, p) for p in highwaters]
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

    return _gc_off(measure)


def range_reader(kafka: KafkaResource, highwaters: dict[int, int]) -> float:
    """The micro-batch's own reader with nothing done per record."""
    ranges = [PartitionRange(p, 0, hw) for p, hw in highwaters.items()]

    def measure() -> float:
        started = time.perf_counter()
        reader = client.RangeReader(kafka.librdkafka_config(), kafka.orders_topic, ranges)
        total = sum(len(chunk) for chunk in reader)
        return total / (time.perf_counter() - started)

    return _gc_off(measure)


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


def duckdb_load(tmp: str, round_: int) -> float:
    """The warehouse's share alone: the events the round's micro-batch loaded, inserted from
    Arrow into a fresh DuckDB file with the stream schema and committed (records/s)."""
    with duckdb.connect(str(Path(tmp) / f"round{round_}.duckdb"), read_only=True) as source:
        events = source.sql(
            f"SELECT {', '.join(map(quote_ident, stream_store.EVENT_COLUMNS))} "  # noqa: S608
            f"FROM {stream_store.EVENTS}"
        ).to_arrow_table()
    with duckdb.connect(str(Path(tmp) / f"load{round_}.duckdb")) as conn:
        stream_store.ensure_stream_schema(conn)
        conn.register("incoming_rows", events)
        started = time.perf_counter()
        conn.begin()
        conn.execute(
            f"INSERT INTO {stream_store.EVENTS} SELECT *, 'bench', now() FROM incoming_rows"  # noqa: S608
        )
        inserted = time.perf_counter()
        conn.commit()
        seconds = time.perf_counter() - started
    COMMIT_SECONDS.append(seconds - (inserted - started))
    return events.num_rows / seconds


def per_message_loop(kafka: KafkaResource, cap: int) -> float:
    """The reference pattern: validate, DLQ the bad, commit after every single record."""
    config = kafka.bounded_config()
    consumer = KafkaConsumer(enable_auto_commit=False, group_id="bench-loop", **config)
    producer = KafkaProducer(**config)
    tps = [KafkaPythonPartition(kafka.orders_topic, p) for p in (0, 1, 2)]
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
        kafka_producer.produce(kafka.bounded_config(), kafka.orders_topic, records)
        seconds = time.perf_counter() - started
        print(f"produced {EVENTS} events ({INVALID_RATE:.0%} poison) in {seconds:.1f}s; "
              f"{ROUNDS} interleaved rounds, medians")  # fmt: skip
        highwaters = client.probe_end_offsets(
            kafka.librdkafka_config(), kafka.orders_topic, None, 10
        )
        assert sum(highwaters.values()) == EVENTS, highwaters
        samples: dict[str, list[float]] = {}
        for i in range(ROUNDS):  # interleaved, so a slow spell of the machine hits every variant
            for name, measure in (
                ("confluent", lambda: confluent_consume(kafka, highwaters, parse=False)),
                ("confluent_orjson", lambda: confluent_consume(kafka, highwaters, parse=True)),
                ("kafka_python", lambda: kafka_python_consume(kafka, highwaters)),
                ("range_reader", lambda: range_reader(kafka, highwaters)),
                ("microbatch", lambda i=i: microbatch(kafka, warehouse(tmp, i))),
                ("duckdb_load", lambda i=i: duckdb_load(tmp, i)),
            ):
                samples.setdefault(name, []).append(measure())
        loop = per_message_loop(kafka, min(LOOP_CAP, EVENTS))
    med = {name: statistics.median(values) for name, values in samples.items()}
    floor, step = med["confluent_orjson"], statistics.median(RUN_STEP_RATES)
    rows = [
        ("bare confluent-kafka consume (tuned)", med["confluent"], "floor, no work"),
        ("confluent-kafka + orjson per record", floor, "the floor the goals use"),
        ("bare kafka-python consume, large fetches", med["kafka_python"], "for comparison"),
        ("the micro-batch range reader alone", med["range_reader"], "RangeReader, no work"),
        ("micro-batch step alone", step, "read, validate, insert, commits"),
        ("micro-batch end to end (defaults)", med["microbatch"], "sensor tick + 1 run"),
        ("per-message validate+commit loop", loop, f"first {LOOP_CAP} records, extrapolated"),
        ("DuckDB insert + commit of the events", med["duckdb_load"], "from Arrow, no Kafka"),
    ]
    for name, rate, note in rows:
        print(f"{name:<42} {rate:>10,.0f} records/s  {note}")
    print("rounds (records/s): " + "; ".join(
        f"{name} " + ", ".join(f"{v:,.0f}" for v in values) for name, values in samples.items()
    ))  # fmt: skip
    print(f"micro-batch end to end / (confluent-kafka + orjson) = {med['microbatch'] / floor:.0%} "
          f"(goal >= 50%); step alone / (confluent-kafka + orjson) = {step / floor:.0%} "
          f"(goal >= 80%); range reader / bare confluent-kafka = "
          f"{med['range_reader'] / med['confluent']:.0%}; end to end / per-message loop = "
          f"{med['microbatch'] / loop:.1f}x (goal >= 10x)")  # fmt: skip
    # The step's budget at the goal, against reading the events with no work at all plus
    # DuckDB storing them: what any step on these two libraries needs before it validates.
    budget, store = EVENTS / (0.8 * floor), EVENTS / med["duckdb_load"]
    bare, commit = EVENTS / med["confluent"], statistics.median(COMMIT_SECONDS)
    print(
        f"step budget at 80% of the floor: {budget:.2f}s for {EVENTS} events; bare consume "
        f"{bare:.2f}s + DuckDB's insert and commit {store:.2f}s (the commit alone {commit:.2f}s, "
        f"which no thread can overlap) = {bare + store:.2f}s ({(bare + store) / budget:.0%} of "
        f"the budget) before any parsing or validation; step alone: {EVENTS / step:.2f}s"
    )


def warehouse(tmp: str, round_: int) -> WarehouseResource:
    """A fresh, empty warehouse per measurement."""
    return WarehouseResource(path=str(Path(tmp) / f"round{round_}.duckdb"))
