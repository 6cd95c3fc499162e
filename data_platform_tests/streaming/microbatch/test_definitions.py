"""The code location carries the micro-batch assets, checks, job and a running sensor."""

import dagster as dg

from data_platform.definitions import defs
from data_platform.streaming.microbatch import jobs


def test_microbatch_definitions_load() -> None:
    sensor = defs.resolve_sensor_def("orders_kafka_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.job_name == jobs.JOB_NAME
    job = defs.resolve_job_def(jobs.JOB_NAME)
    assert job.tags[jobs.TOPIC_TAG] == "orders"
    graph = defs.resolve_asset_graph()
    events, dlq = dg.AssetKey("orders_events"), dg.AssetKey("orders_dlq")
    assert graph.get(events).group_name == graph.get(dlq).group_name == "streaming"
    node = graph.get(events).assets_def
    assert node is graph.get(dlq).assets_def  # one step materializes both
    assert node.op.pool == "warehouse"
    checks = {(k.asset_key.path[-1], k.name) for k in node.check_keys}
    assert checks == {
        ("orders_events", "required_fields"),
        ("orders_events", "offsets_contiguous"),
        ("orders_dlq", "dlq_rate"),
    }
