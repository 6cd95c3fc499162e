"""The Spark session for streaming assets: local by default, a cluster by configuration alone.

`master` takes any Spark master URL (`local[2]`, `spark://host:7077`, `k8s://https://api:6443`);
cluster settings (executor image, namespace, memory, ...) go in `conf`. The checkpoint root must
then be storage every executor and the driver can reach (`s3a://...`, `hdfs://...`).
"""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

import dagster as dg
from pydantic import Field

from data_platform.paths import state_dir

if TYPE_CHECKING:  # pyspark (and its JVM gateway) is imported by the step that starts a session
    from pyspark.sql import SparkSession

LOCAL_DEFAULT_CONF = {
    # 200 shuffle partitions turn a 10-row local aggregation into ~18 s; state stores follow them.
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    # Short local runs are dominated by JIT and code generation, not by steady-state speed:
    # C1-only JIT and no whole-stage codegen halved a cold 200k-event run on 2 busy cores.
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
    "spark.sql.codegen.wholeStage": "false",
}
REQUIRED_CONF = {
    # Window boundaries and the DuckDB TIMESTAMP columns are UTC wherever the driver runs.
    "spark.sql.session.timeZone": "UTC",
    # foreachBatch hands each batch to DuckDB through pandas: Arrow makes that a bulk copy.
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # The run summary reads every batch's progress, however many batches a run has.
    "spark.sql.streaming.numRecentProgressUpdates": "10000",
    # Source options carry Kafka credentials: redact them (and the official connector's JAAS
    # line) wherever Spark prints options, plans or the UI.
    "spark.redaction.regex": "(?i)secret|password|token|access[.]?key|jaas",
}


class SparkResource(dg.ConfigurableResource):
    master: str = Field(default="local[2]", description="Spark master URL.")
    app_name: str = "data-platform-streaming"
    conf: dict[str, str] = Field(
        default_factory=dict, description="Extra Spark conf; overrides the local defaults."
    )
    checkpoint_root: str | None = Field(
        default=None, description="Streaming checkpoints; default <state dir>/spark/checkpoints."
    )
    python_executable: str | None = Field(
        default=None, description="Interpreter for Python workers; default this interpreter."
    )
    kafka_format: Literal["kafka_py", "kafka"] = Field(
        default="kafka_py",
        description="'kafka' uses the official connector (needs the spark-sql-kafka JAR, e.g. "
        "conf spark.jars.packages); 'kafka_py' the bundled Python source.",
    )
    reuse_active_session: bool = Field(
        default=False,
        description="Use an already active session (tests, notebooks) and leave it running.",
    )

    def checkpoint_location(self, name: str) -> str:
        root = self.checkpoint_root or str(state_dir() / "spark" / "checkpoints")
        return f"{root.rstrip('/')}/{name}"

    def spark_conf(self) -> dict[str, str]:
        """Local defaults (local masters only), then the fixed settings, then `conf`."""
        return {
            **(LOCAL_DEFAULT_CONF if self.master.startswith("local") else {}),
            **REQUIRED_CONF,
            "spark.pyspark.python": self.python_executable or sys.executable,
            **self.conf,
        }

    def builder(self) -> "SparkSession.Builder":
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", self.python_executable or sys.executable)
        builder = SparkSession.builder.master(self.master).appName(self.app_name)
        for key, value in self.spark_conf().items():
            builder = builder.config(key, value)
        return builder

    @contextmanager
    def session(self) -> Iterator["SparkSession"]:
        """A session with the `kafka_py` source registered, stopped on exit if created here."""
        from pyspark.sql import SparkSession

        from data_platform.streaming.windows.kafka_source import SOURCE_NAME, KafkaPyDataSource

        active = SparkSession.getActiveSession() if self.reuse_active_session else None
        spark = active or self.builder().getOrCreate()
        try:
            if self.kafka_format == SOURCE_NAME:
                spark.dataSource.register(KafkaPyDataSource)
            yield spark
        finally:
            if active is None:
                spark.stop()
