"""Connection settings for Kafka, shared by the micro-batch path and the Spark source.

Bootstrap servers default to $KAFKA_BOOTSTRAP_SERVERS (else localhost:9092) at run time;
SASL/SSL secrets are passed as `dg.EnvVar(...)` in production and are never logged.
"""

import os
from typing import Any

import dagster as dg
from pydantic import Field

from data_platform.lib.kafka_io import ensure_topics

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
DEFAULT_BOOTSTRAP = "localhost:9092"


class KafkaResource(dg.ConfigurableResource):
    bootstrap_servers: str | None = Field(
        default=None, description="host:port list; default $KAFKA_BOOTSTRAP_SERVERS."
    )
    client_id: str = "data-platform"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None  # pass dg.EnvVar("KAFKA_SASL_PASSWORD"); never a literal
    ssl_cafile: str | None = None
    orders_topic: str = "orders"
    dlq_topic: str = "orders-dlq"
    request_timeout_ms: int = 10_000
    api_timeout_ms: int = 5_000
    api_version: str = Field(
        default="3.9", description="Broker protocol version; set so clients never probe/block."
    )
    bootstrap_timeout_ms: int = 5_000
    consumer_group: str = Field(
        default="data-platform-orders",
        description="Group whose offsets the micro-batch commits after the warehouse commit.",
    )
    orders_partitions: int = 3
    dlq_partitions: int = 1

    def resolved_bootstrap_servers(self) -> str:
        return self.bootstrap_servers or os.environ.get(BOOTSTRAP_ENV) or DEFAULT_BOOTSTRAP

    def client_config(self) -> dict[str, Any]:
        """kafka-python keyword arguments common to producers, consumers and admin clients."""
        config: dict[str, Any] = {
            "bootstrap_servers": self.resolved_bootstrap_servers().split(","),
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
        }
        if self.sasl_mechanism:
            config.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        if self.ssl_cafile:
            config["ssl_cafile"] = self.ssl_cafile
        return config

    def bounded_config(self) -> dict[str, Any]:
        """client_config plus a fixed protocol version and bootstrap timeout: no call can hang."""
        return {
            **self.client_config(),
            "api_version": tuple(int(x) for x in self.api_version.split(".")),
            "bootstrap_timeout_ms": self.bootstrap_timeout_ms,
        }

    def ensure_topics(self) -> list[str]:
        """Create the orders and DLQ topics if missing (idempotent); returns the ones created."""
        return ensure_topics(
            self.bounded_config(),
            {self.orders_topic: self.orders_partitions, self.dlq_topic: self.dlq_partitions},
        )
