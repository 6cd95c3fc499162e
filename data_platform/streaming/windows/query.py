"""The streaming query: Kafka records → validated order events → 5-minute windows per customer.

Pure Spark (no Dagster) so tests and the benchmark build the very same plan as the asset.
"""

from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, StructType, VariantType

from data_platform.streaming.kafka_resource import KafkaResource

# The event contract, parsed with an explicit schema. Fields are VARIANT so the JSON type of
# each value is checked (a number is not a customer_id, "12" is not an amount).
EVENT_SCHEMA = (
    StructType()
    .add("order_id", VariantType())
    .add("customer_id", VariantType())
    .add("amount", VariantType())
    .add("currency", VariantType())
    .add("event_time", VariantType())
)
NUMERIC_JSON_TYPES = "^(TINYINT|SMALLINT|INT|BIGINT|FLOAT|DOUBLE|DECIMAL.*)$"
ISO_WITH_ZONE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$"
WATERMARK_DELAY = "10 minutes"
WINDOW_DURATION = "5 minutes"
AMOUNT_TYPE = DecimalType(18, 2)
INPUT_METRICS = "window_input"
MAX_VALUE_BYTES = 32 * 1024  # the event contract's record size limit (the micro-batch path's too)


def kafka_options(kafka: KafkaResource, kafka_format: str) -> dict[str, str]:
    """Reader options common to the official `kafka` format and `kafka_py` (secrets included,
    so never log the result)."""
    options = {"kafka.bootstrap.servers": kafka.resolved_bootstrap_servers()}
    security = kafka.security()
    if security.protocol != "PLAINTEXT":
        options["kafka.security.protocol"] = security.protocol
    if security.sasl_mechanism:
        options["kafka.sasl.mechanism"] = security.sasl_mechanism
        if kafka_format == "kafka":
            options["kafka.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{security.sasl_username}" password="{security.sasl_password}";'
            )
        else:  # librdkafka's names
            options["kafka.sasl.username"] = security.sasl_username or ""
            options["kafka.sasl.password"] = security.sasl_password or ""
    if security.ssl_cafile:
        if kafka_format == "kafka":
            options["kafka.ssl.truststore.type"] = "PEM"
            options["kafka.ssl.truststore.location"] = security.ssl_cafile
        else:
            options["kafka.ssl.ca.location"] = security.ssl_cafile
    if kafka_format != "kafka":
        options["kafka.isolation.level"] = kafka.isolation_level
    return options


def read_kafka(
    spark: SparkSession,
    kafka_format: str,
    options: dict[str, str],
    topic: str,
    starting_offsets: str = "earliest",
    max_offsets_per_trigger: int | None = None,
) -> DataFrame:
    reader = spark.readStream.format(kafka_format).options(**options)
    reader = reader.option("subscribe", topic).option("startingOffsets", starting_offsets)
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    return reader.load()


def _is_text(field: Column) -> Column:
    """A JSON string with something besides whitespace in it."""
    text = F.trim(F.try_variant_get(field, "$", "string"))
    return F.coalesce((F.schema_of_variant(field) == F.lit("STRING")) & (text != ""), F.lit(False))


def parse_events(records: DataFrame) -> DataFrame:
    """Typed events plus a `valid` flag; poison (a tombstone, oversized, bad UTF-8, not an object,
    a field missing, empty or of the wrong JSON type, a negative or non-finite amount, a bad
    timestamp or one without zone) is invalid."""
    text = F.col("value").cast("string")
    parsed = records.select(
        F.col("value"),
        text.alias("text"),
        F.from_json(text, EVENT_SCHEMA).alias("j"),
    )
    j = F.col("j")
    amount = F.try_variant_get(j["amount"], "$", "double")
    event_time_text = F.try_variant_get(j["event_time"], "$", "string")
    valid = (
        F.col("text").isNotNull()
        & (F.length(F.col("value")) <= MAX_VALUE_BYTES)
        & F.coalesce(F.expr("is_valid_utf8(text)"), F.lit(False))
        & j.isNotNull()
        & _is_text(j["order_id"])
        & _is_text(j["customer_id"])
        & _is_text(j["currency"])
        & _is_text(j["event_time"])
        & F.coalesce(F.schema_of_variant(j["amount"]).rlike(NUMERIC_JSON_TYPES), F.lit(False))
        & F.coalesce(
            ~F.isnan(amount) & (amount >= 0) & (amount < F.lit(float("inf"))), F.lit(False)
        )
        & F.coalesce(event_time_text.rlike(ISO_WITH_ZONE), F.lit(False))
        & F.expr("try_cast(try_variant_get(j.event_time, '$', 'string') AS TIMESTAMP)").isNotNull()
    )
    return parsed.select(
        F.coalesce(valid, F.lit(False)).alias("valid"),
        F.try_variant_get(j["order_id"], "$", "string").alias("order_id"),
        F.try_variant_get(j["customer_id"], "$", "string").alias("customer_id"),
        F.expr("try_cast(try_variant_get(j.amount, '$', 'double') AS DECIMAL(18, 2))").alias(
            "amount"
        ),
        F.expr("try_cast(try_variant_get(j.event_time, '$', 'string') AS TIMESTAMP)").alias(
            "event_time"
        ),
    )


def window_aggregates(records: DataFrame) -> DataFrame:
    """The reference job: watermark 10 minutes, 5-minute tumbling windows per customer."""
    events = parse_events(records).observe(
        INPUT_METRICS,
        F.count(F.lit(1)).alias("records"),
        F.count_if(F.col("valid")).alias("valid"),
    )
    return (
        events.where(F.col("valid"))
        .withWatermark("event_time", WATERMARK_DELAY)
        .groupBy(F.window("event_time", WINDOW_DURATION), F.col("customer_id"))
        .agg(F.count(F.lit(1)).alias("order_count"), F.sum("amount").alias("total_amount"))
        .select(
            F.col("window.start").alias("window_start"),
            F.col("window.end").alias("window_end"),
            "customer_id",
            "order_count",
            F.col("total_amount").cast(AMOUNT_TYPE).alias("total_amount"),
        )
    )


def observed(progress: dict[str, Any]) -> dict[str, int]:
    metrics = progress.get("observedMetrics", {}).get(INPUT_METRICS, {})
    return {"records": int(metrics.get("records", 0)), "valid": int(metrics.get("valid", 0))}
