"""Run the window aggregates after each new `orders_events` batch, never two at once.

The sensor only watches the event log for the asset key, so the code location loads whether or
not the micro-batch path (which owns `orders_events`) is deployed. Several new batches between
ticks collapse into one run; while a run is queued or running no second one is requested
(the run tag limit in dagster.yaml and the `warehouse` pool enforce the same at launch).
"""

import dagster as dg

from data_platform.streaming.windows.assets import QUERY_NAME, order_window_aggregates

ORDERS_EVENTS = dg.AssetKey("orders_events")
SPARK_QUERY_TAG = "data_platform/spark_query"
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

order_windows_job = dg.define_asset_job(
    "order_windows_job",
    selection=[order_window_aggregates],
    tags={SPARK_QUERY_TAG: QUERY_NAME},
    description="Drain the orders topic through the Spark window aggregation.",
)


@dg.sensor(
    job=order_windows_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def order_windows_after_orders_events_sensor(
    context: dg.SensorEvaluationContext,
) -> dg.SkipReason | dg.RunRequest:
    """Cursor = the storage id of the last `orders_events` materialization acted on."""
    records = context.instance.fetch_materializations(ORDERS_EVENTS, limit=1).records
    event = records[0] if records else None
    if event is None:
        return dg.SkipReason("orders_events has never been materialized")
    if context.cursor and int(context.cursor) >= event.storage_id:
        return dg.SkipReason("no new orders_events batch")
    active = context.instance.get_run_records(
        dg.RunsFilter(job_name=order_windows_job.name, statuses=ACTIVE_STATUSES), limit=1
    )
    if active:
        return dg.SkipReason("a window run is queued or running; the next tick catches up")
    context.update_cursor(str(event.storage_id))
    return dg.RunRequest(run_key=f"orders_events-{event.storage_id}")
