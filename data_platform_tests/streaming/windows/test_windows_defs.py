"""The windows domain as registered in the code location, and its automation."""

import sys
from pathlib import Path

import dagster as dg

from data_platform.definitions import defs
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.windows import query as window_query
from data_platform.streaming.windows.automation import (
    SPARK_QUERY_TAG,
    order_windows_after_orders_events_sensor,
    order_windows_job,
)
from data_platform.streaming.windows.spark_resource import SparkResource

KEY = dg.AssetKey("order_window_aggregates")


def test_asset_check_job_sensor_and_resource_are_registered() -> None:
    repo = defs.get_repository_def()
    node = repo.asset_graph.get(KEY)
    assert node.group_name == "streaming"
    assert defs.resolve_assets_def(KEY).op.pool == "warehouse"
    assert dg.AssetCheckKey(KEY, "late_record_share") in repo.asset_graph.asset_check_keys
    assert repo.get_job("order_windows_job").tags[SPARK_QUERY_TAG] == "order_window_aggregates"
    assert repo.get_sensor_def("order_windows_after_orders_events_sensor")
    assert "spark" in repo.get_top_level_resources()


def test_spark_resource_defaults_are_local_and_checkpoints_live_in_the_state_dir(
    tmp_path: Path,
) -> None:
    spark = SparkResource()
    assert spark.master == "local[2]"
    conf = spark.spark_conf()
    assert conf["spark.sql.shuffle.partitions"] == "2"
    assert conf["spark.pyspark.python"] == sys.executable
    assert spark.checkpoint_location("q") == str(tmp_path / "state" / "spark" / "checkpoints/q")
    cluster = SparkResource(master="spark://m:7077", checkpoint_root="s3a://b/ckpt/")
    assert "spark.sql.shuffle.partitions" not in cluster.spark_conf()
    assert cluster.checkpoint_location("q") == "s3a://b/ckpt/q"
    k8s = SparkResource(
        master="k8s://https://api:6443", python_executable="/opt/venv/bin/python",
        conf={"spark.kubernetes.container.image": "img:1"},
    )  # fmt: skip
    assert k8s.spark_conf()["spark.kubernetes.container.image"] == "img:1"
    assert k8s.spark_conf()["spark.pyspark.python"] == "/opt/venv/bin/python"
    assert k8s.spark_conf()["spark.sql.session.timeZone"] == "UTC"


def test_sensor_requests_one_run_per_new_orders_events_batch(instance: dg.DagsterInstance) -> None:
    def tick(cursor: str | None) -> tuple[list[dg.RunRequest], str | None]:
        context = dg.build_sensor_context(instance=instance, cursor=cursor)
        result = order_windows_after_orders_events_sensor(context)
        runs = [result] if isinstance(result, dg.RunRequest) else []
        return runs, context.cursor

    runs, cursor = tick(None)
    assert runs == []  # orders_events never materialized (or not deployed at all)
    for _ in range(2):  # two batches between ticks collapse into one run
        instance.report_runless_asset_event(dg.AssetMaterialization("orders_events"))
    runs, cursor = tick(cursor)
    assert len(runs) == 1 and runs[0].run_key.startswith("orders_events-")
    assert tick(cursor)[0] == []
    instance.report_runless_asset_event(dg.AssetMaterialization("orders_events"))
    assert len(tick(cursor)[0]) == 1
    assert order_windows_job.name == "order_windows_job"


def test_kafka_options_mirror_the_official_source_for_both_formats() -> None:
    kafka = KafkaResource(
        bootstrap_servers="b1:9093,b2:9093", security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN", sasl_username="u", sasl_password="p", ssl_cafile="/ca.pem",
    )  # fmt: skip
    official = window_query.kafka_options(kafka, "kafka")
    assert official["kafka.bootstrap.servers"] == "b1:9093,b2:9093"
    assert official["kafka.security.protocol"] == "SASL_SSL"
    assert 'username="u" password="p"' in official["kafka.sasl.jaas.config"]
    assert official["kafka.ssl.truststore.type"] == "PEM"
    python = window_query.kafka_options(kafka, "kafka_py")
    # librdkafka's names (client_config hands them over; it checks them with a real client)
    assert python["kafka.sasl.password"] == "p" and python["kafka.ssl.ca.location"] == "/ca.pem"
    assert window_query.kafka_options(KafkaResource(bootstrap_servers="b:1"), "kafka_py") == {
        "kafka.bootstrap.servers": "b:1",
        "kafka.isolation.level": "read_committed",
    }
