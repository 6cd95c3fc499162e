"""`orders_kafka_sensor`: plans the next offset ranges and requests one micro-batch run.

Where to start comes from the warehouse ledger (what was really loaded) whenever no batch is in
flight, so a failed run's range is planned again; the cursor only covers requested batches while
runs are in flight, or a warehouse locked by another process. An unreachable broker or a locked
warehouse yields a SkipReason, never an exception.
"""

import dagster as dg

from data_platform.resources import WarehouseResource
from data_platform.run_launcher import LocalRunLauncher
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch.jobs import (
    ATTEMPT_TAG,
    BATCH_TAG,
    JOB_NAME,
    RANGES_TAG,
    TOPIC_TAG,
    orders_microbatch_job,
)
from data_platform.streaming.microbatch.offsets import (
    SensorCursor,
    contiguous_ends,
    format_ranges,
    lag,
    plan_batch,
    run_key,
)

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
DEFAULT_MAX_RECORDS = 500_000
PROBE_TIMEOUT_S = 5.0


def _lag_text(lags: dict[int, int]) -> str:
    return ", ".join(f"p{p}={v}" for p, v in lags.items()) or "no partitions"


def _last_batch_succeeded(instance: dg.DagsterInstance, key: str | None) -> bool:
    if key is None:
        return True
    runs = instance.get_runs(filters=dg.RunsFilter(tags={BATCH_TAG: key}), limit=1)
    return bool(runs) and runs[0].status == dg.DagsterRunStatus.SUCCESS


def _probe(
    kafka: KafkaResource, topic: str, starts: dict[int, int]
) -> dict[int, int] | dg.SkipReason:
    """Each partition's readable end (the last stable offset under read_committed), read through
    the data path's own client so every codec works here too. The topics are created when
    missing. Only an unreachable broker is reported as one."""
    from data_platform.kafka import client
    from data_platform.kafka.reachability import BrokerUnavailable

    config = kafka.librdkafka_config()
    try:
        try:
            return client.probe_end_offsets(config, topic, starts, PROBE_TIMEOUT_S)
        except BrokerUnavailable as exc:
            if "does not exist" not in str(exc):
                raise
            kafka.ensure_topics()
            return client.probe_end_offsets(config, topic, starts, PROBE_TIMEOUT_S)
    except BrokerUnavailable as exc:
        return dg.SkipReason(
            f"Kafka broker {kafka.resolved_bootstrap_servers()} unavailable: {exc}"
        )


def plan_tick(
    context: dg.SensorEvaluationContext,
    kafka: KafkaResource,
    warehouse: WarehouseResource,
    max_records: int,
    max_in_flight: int,
) -> dg.SensorResult | dg.SkipReason:
    # The ledger store (pyarrow) is imported at the first tick, not when the definitions load.
    from data_platform.streaming.microbatch.stream_store import (
        LedgerUnavailable,
        read_ledger_nowait,
        unpublished_nowait,
    )

    topic = kafka.orders_topic
    cursor = SensorCursor.from_json(context.cursor, topic)
    in_flight = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=JOB_NAME, statuses=IN_FLIGHT, tags={TOPIC_TAG: topic}),
        limit=max_in_flight,
    )
    launcher = context.instance.run_launcher
    if isinstance(launcher, LocalRunLauncher):  # a launch lost with its daemon must not block us
        lost = set(launcher.fail_dead_launches(in_flight))
        in_flight = [r for r in in_flight if r.run_id not in lost]
    if len(in_flight) >= max_in_flight:
        return dg.SkipReason(
            f"backpressure: {len(in_flight)} {JOB_NAME} run(s) for {topic} "
            f"queued or in progress (max {max_in_flight})"
        )
    try:
        ledger_next = contiguous_ends(read_ledger_nowait(warehouse.target(), topic))
    except LedgerUnavailable:
        ledger_next = None
    if in_flight:  # later batches continue after what is already requested
        starts = dict(cursor.next_offsets)
    elif ledger_next is not None:
        starts = ledger_next
    elif _last_batch_succeeded(context.instance, cursor.last_run_key):
        starts = dict(cursor.next_offsets)
    else:
        return dg.SkipReason(
            f"warehouse locked by another process and the last batch of {topic} "
            "is not confirmed loaded; will reconcile on the next tick"
        )
    probed = _probe(kafka, topic, starts)
    if isinstance(probed, dg.SkipReason):
        return probed
    highwaters = probed
    starts = {p: starts.get(p, 0) for p in highwaters}
    ahead = {p: (starts[p], hw) for p, hw in highwaters.items() if starts[p] > hw}
    if ahead:
        detail = ", ".join(f"p{p}: next {s} > high watermark {hw}" for p, (s, hw) in ahead.items())
        return dg.SkipReason(
            f"{topic}: the warehouse is ahead of the broker ({detail}); the topic was recreated "
            f"or truncated. Nothing is planned; after checking, run "
            f"`data-platform kafka forget-topic --topic {topic}` to start over."
        )
    ranges = plan_batch(starts, highwaters, max_records)
    if not ranges:
        waiting = 0 if in_flight else unpublished_nowait(warehouse.target(), topic)
        if waiting:  # a batch died between its commit and its DLQ publish
            return _publish_request(topic, starts, waiting)
        return dg.SkipReason(f"{topic}: no new records (lag {_lag_text(lag(starts, highwaters))})")
    next_offsets = {**starts, **{r.partition: r.end for r in ranges}}
    base_key = run_key(topic, ranges)
    replanned = cursor.last_batch == base_key
    attempt = cursor.attempt + 1 if replanned else 0  # a new run key, or Dagster would skip it
    key = run_key(topic, ranges, attempt)
    context.log.info(
        f"{topic}: requesting {format_ranges(ranges)}; lag after this batch "
        f"{_lag_text(lag(next_offsets, highwaters))}"
    )
    request = dg.RunRequest(
        run_key=key,
        run_config=_run_config(topic, ranges),
        tags={
            TOPIC_TAG: topic,
            BATCH_TAG: key,
            RANGES_TAG: format_ranges(ranges),
            ATTEMPT_TAG: str(attempt),
        },
    )
    new_cursor = SensorCursor(topic, next_offsets, key, attempt, last_batch=base_key)
    return dg.SensorResult(run_requests=[request], cursor=new_cursor.to_json())


def _run_config(topic: str, ranges: list) -> dict:
    return {
        "ops": {
            "orders_microbatch": {
                "config": {
                    "topic": topic,
                    "ranges": [
                        {"partition": r.partition, "start": r.start, "end": r.end} for r in ranges
                    ],
                }
            }
        }
    }


def _publish_request(topic: str, starts: dict[int, int], waiting: int) -> dg.SensorResult:
    """A batch of no ranges: it publishes the committed dead letters still waiting. Its key
    names the position and the count, so a publish that keeps failing is not re-requested
    until something changes."""
    position = " ".join(f"{p}:{o}" for p, o in sorted(starts.items()))
    key = f"{topic} publish-dead-letters {position} waiting={waiting}"
    request = dg.RunRequest(
        run_key=key, run_config=_run_config(topic, []), tags={TOPIC_TAG: topic, BATCH_TAG: key}
    )
    return dg.SensorResult(run_requests=[request])


def _with_dead_run_reports(
    context: dg.SensorEvaluationContext,
    kafka: KafkaResource,
    warehouse: WarehouseResource,
    result: dg.SensorResult | dg.SkipReason,
) -> dg.SensorResult | dg.SkipReason:
    """Add materializations for batches whose run committed and then died, so the UI's history
    matches the warehouse (reported once per run; a locked warehouse waits for the next tick)."""
    from data_platform.streaming.microbatch.reconcile import (
        dead_run_materializations,
        recent_ledger_rows,
    )
    from data_platform.streaming.microbatch.stream_store import LedgerUnavailable

    try:
        ledger = recent_ledger_rows(warehouse.target(), kafka.orders_topic, limit=50)
    except LedgerUnavailable:
        return result
    events = dead_run_materializations(context.instance, kafka.orders_topic, ledger)
    if not events:
        return result
    if isinstance(result, dg.SkipReason):
        return dg.SensorResult(asset_events=events, skip_reason=result)
    return dg.SensorResult(
        run_requests=result.run_requests, cursor=result.cursor, asset_events=events
    )


def build_orders_kafka_sensor(
    name: str = "orders_kafka_sensor",
    max_records_per_batch: int = DEFAULT_MAX_RECORDS,
    max_in_flight: int = 2,
    minimum_interval_seconds: int = 5,
) -> dg.SensorDefinition:
    """The sensor with its batch cap and backpressure limit (tests build smaller ones).

    Two batches in flight: the next range is planned and queued while one loads (the topic tag
    still runs them one at a time), so it starts the moment the slot is free. Every 5 s: the
    sensor daemon evaluates no sensor more often than that, whatever the interval says."""

    @dg.sensor(
        name=name,
        job=orders_microbatch_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Plans Kafka offset ranges (<= {max_records_per_batch} records per batch, "
        f"<= {max_in_flight} batch in flight) and requests orders_microbatch runs.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, kafka: KafkaResource, warehouse: WarehouseResource
    ) -> dg.SensorResult | dg.SkipReason:
        try:
            result = plan_tick(context, kafka, warehouse, max_records_per_batch, max_in_flight)
            return _with_dead_run_reports(context, kafka, warehouse, result)
        except Exception as exc:  # a tick must end with a reason, never a traceback loop
            context.log.exception("orders_kafka_sensor tick failed")
            return dg.SkipReason(f"tick failed ({type(exc).__name__}: {exc}); retrying next tick")

    return _sensor


orders_kafka_sensor = build_orders_kafka_sensor()
