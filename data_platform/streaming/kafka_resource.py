"""Connection settings for Kafka, shared by the micro-batch path and the Spark source.

`librdkafka_config` feeds the data path (confluent-kafka); `client_config`/`bounded_config` feed
kafka-python, which administers topics. Both come from the same settings.

Bootstrap servers default to $KAFKA_BOOTSTRAP_SERVERS (else localhost:9092) at run time.
Security settings left unset fall back, at run time, to $KAFKA_SECURITY_PROTOCOL,
$KAFKA_SASL_MECHANISM, $KAFKA_SASL_USERNAME, $KAFKA_SASL_PASSWORD and $KAFKA_SSL_CAFILE, so a
deployment injects its secrets as environment variables (Kubernetes secrets) while the local
default needs none; an explicit `dg.EnvVar(...)` works too. Secrets are never logged.
"""

import os
from dataclasses import dataclass
from typing import Any, Literal

import dagster as dg
from pydantic import Field

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
DEFAULT_BOOTSTRAP = "localhost:9092"


@dataclass(frozen=True)
class KafkaSecurity:
    """Resolved security settings (holds the password: never log it)."""

    protocol: str
    sasl_mechanism: str | None
    sasl_username: str | None
    sasl_password: str | None = None
    ssl_cafile: str | None = None

    def __repr__(self) -> str:
        return f"KafkaSecurity(protocol={self.protocol!r}, sasl_mechanism={self.sasl_mechanism!r})"


class KafkaResource(dg.ConfigurableResource):
    bootstrap_servers: str | None = Field(
        default=None, description="host:port list; default $KAFKA_BOOTSTRAP_SERVERS."
    )
    client_id: str = "data-platform"
    security_protocol: str | None = None  # default $KAFKA_SECURITY_PROTOCOL, else PLAINTEXT
    sasl_mechanism: str | None = None  # default $KAFKA_SASL_MECHANISM
    sasl_username: str | None = None  # default $KAFKA_SASL_USERNAME
    sasl_password: str | None = None  # default $KAFKA_SASL_PASSWORD; never a literal
    ssl_cafile: str | None = None  # default $KAFKA_SSL_CAFILE
    orders_topic: str = "orders"
    dlq_topic: str = "orders-dlq"
    request_timeout_ms: int = Field(default=10_000, ge=100, le=600_000)
    api_timeout_ms: int = Field(default=5_000, ge=100, le=600_000)
    api_version: str = Field(
        default="3.9", description="Broker protocol version; set so clients never probe/block."
    )
    bootstrap_timeout_ms: int = Field(default=5_000, ge=100, le=600_000)
    consumer_group: str = Field(
        default="data-platform-orders",
        description="Group whose offsets the micro-batch commits after the warehouse commit.",
    )
    orders_partitions: int = Field(default=3, ge=1, le=10_000)
    dlq_partitions: int = Field(default=1, ge=1, le=10_000)
    isolation_level: Literal["read_committed", "read_uncommitted"] = Field(
        default="read_committed",
        description="read_committed: records of open or aborted transactions are never loaded "
        "and batches end at the last stable offset.",
    )

    def resolved_bootstrap_servers(self) -> str:
        return self.bootstrap_servers or os.environ.get(BOOTSTRAP_ENV) or DEFAULT_BOOTSTRAP

    def security(self) -> KafkaSecurity:
        """Configured security settings, each falling back to its environment variable."""
        env = os.environ.get
        return KafkaSecurity(
            protocol=self.security_protocol or env("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT",
            sasl_mechanism=self.sasl_mechanism or env("KAFKA_SASL_MECHANISM"),
            sasl_username=self.sasl_username or env("KAFKA_SASL_USERNAME"),
            sasl_password=self.sasl_password or env("KAFKA_SASL_PASSWORD"),
            ssl_cafile=self.ssl_cafile or env("KAFKA_SSL_CAFILE"),
        )

    def client_config(self) -> dict[str, Any]:
        """kafka-python keyword arguments common to producers, consumers and admin clients."""
        security = self.security()
        config: dict[str, Any] = {
            "bootstrap_servers": self.resolved_bootstrap_servers().split(","),
            "client_id": self.client_id,
            "security_protocol": security.protocol,
            "request_timeout_ms": self.request_timeout_ms,
        }
        if security.sasl_mechanism:
            config.update(
                sasl_mechanism=security.sasl_mechanism,
                sasl_plain_username=security.sasl_username,
                sasl_plain_password=security.sasl_password,
            )
        if security.ssl_cafile:
            config["ssl_cafile"] = security.ssl_cafile
        return config

    def bounded_config(self) -> dict[str, Any]:
        """client_config plus a fixed protocol version and bootstrap timeout: no call can hang."""
        return {
            **self.client_config(),
            "api_version": tuple(int(x) for x in self.api_version.split(".")),
            "bootstrap_timeout_ms": self.bootstrap_timeout_ms,
        }

    def librdkafka_config(self) -> dict[str, Any]:
        """confluent-kafka (librdkafka) settings for the data path: readers, the sensor's probe,
        the dead-letter producer and group commits."""
        security = self.security()
        config: dict[str, Any] = {
            "bootstrap.servers": self.resolved_bootstrap_servers(),
            "client.id": self.client_id,
            "security.protocol": security.protocol.lower(),
            "socket.timeout.ms": self.request_timeout_ms,
            "socket.connection.setup.timeout.ms": self.bootstrap_timeout_ms,
            "isolation.level": self.isolation_level,
        }
        if security.sasl_mechanism:
            config.update(
                {
                    "sasl.mechanism": security.sasl_mechanism,
                    "sasl.username": security.sasl_username,
                    "sasl.password": security.sasl_password,
                }
            )
        if security.ssl_cafile:
            config["ssl.ca.location"] = security.ssl_cafile
        return config

    def ensure_topics(self) -> list[str]:
        """Create the orders and DLQ topics if missing (idempotent); returns the ones created."""
        from data_platform.kafka.admin import ensure_topics

        return ensure_topics(
            self.bounded_config(),
            {self.orders_topic: self.orders_partitions, self.dlq_topic: self.dlq_partitions},
        )
