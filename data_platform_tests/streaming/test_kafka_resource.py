"""Kafka connection settings: configured values win, the environment fills the rest at run time."""

import pytest

from data_platform.streaming.kafka_resource import KafkaResource


def test_local_default_needs_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM",
                 "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    config = KafkaResource().client_config()
    assert config["bootstrap_servers"] == ["localhost:9092"]
    assert config["security_protocol"] == "PLAINTEXT"
    assert "sasl_plain_password" not in config


def test_secrets_come_from_the_environment_and_never_show_in_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "b1:9093,b2:9093")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "svc-orders")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cr3t-from-env")
    resource = KafkaResource()
    config = resource.client_config()
    assert config["bootstrap_servers"] == ["b1:9093", "b2:9093"]
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_plain_username"] == "svc-orders"
    assert config["sasl_plain_password"] == "s3cr3t-from-env"
    assert "s3cr3t-from-env" not in repr(resource.security())
    assert "s3cr3t-from-env" not in repr(resource)


def test_configured_values_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    resource = KafkaResource(bootstrap_servers="k:9092", security_protocol="PLAINTEXT")
    assert resource.client_config()["security_protocol"] == "PLAINTEXT"
    assert resource.client_config()["bootstrap_servers"] == ["k:9092"]
