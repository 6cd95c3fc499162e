"""The demo step says why there is nothing to show instead of crashing (no Spark reached)."""

import pytest

from data_platform.cli import windows_demo
from data_platform.kafka.local_broker import LocalBroker
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform_tests.streaming.windows.conftest import new_topic

pytestmark = pytest.mark.kafka


def never(*args: object) -> None:
    raise AssertionError(f"nothing to materialize, yet called with {args}")


def test_missing_then_empty_topic_is_reported(
    kafka_broker: LocalBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    servers = kafka_broker.bootstrap_servers
    missing = KafkaResource(bootstrap_servers=servers, orders_topic="never-created-topic")
    windows_demo.run_windows_demo(never, never, missing)
    assert "topic 'never-created-topic' does not exist" in capsys.readouterr().out

    empty = KafkaResource(bootstrap_servers=servers, orders_topic=new_topic(kafka_broker))
    windows_demo.run_windows_demo(never, never, empty)
    assert f"topic {empty.orders_topic!r} is empty" in capsys.readouterr().out
