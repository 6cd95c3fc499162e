"""The kafka_py source's Kafka side against the real broker (no Spark needed)."""

import pyarrow as pa
import pytest

from data_platform.kafka.local_broker import LocalBroker
from data_platform.streaming.windows import kafka_source
from data_platform.streaming.windows.offsets import OffsetRange
from data_platform_tests.streaming.windows.conftest import new_topic, produce

pytestmark = pytest.mark.kafka


def test_end_offsets_come_from_the_fetch_high_watermark(kafka_broker: LocalBroker) -> None:
    topic = new_topic(kafka_broker, partitions=2)
    for i in range(5):  # five single-record batches, then one batch of ten
        produce(kafka_broker, topic, [(b"k", f"single-{i}".encode())])
    produce(kafka_broker, topic, [(b"k", f"batched-{i}".encode()) for i in range(10)])
    config = kafka_source.client_config({"kafka.bootstrap.servers": kafka_broker.bootstrap_servers})

    ends = kafka_source.probe_end_offsets(config, [topic])

    assert sorted(ends[topic].values()) == [0, 15]


def test_read_range_returns_exactly_start_to_end(kafka_broker: LocalBroker) -> None:
    topic = new_topic(kafka_broker, partitions=1)
    produce(kafka_broker, topic, [(str(i).encode(), f"v{i}".encode()) for i in range(40)])
    config = kafka_source.client_config({"kafka.bootstrap.servers": kafka_broker.bootstrap_servers})

    batches = list(kafka_source.read_range(config, OffsetRange(topic, 0, 7, 23)))
    rows = pa.Table.from_batches(batches).to_pylist()

    assert [r["offset"] for r in rows] == list(range(7, 23))
    assert [r["value"] for r in rows] == [f"v{i}".encode() for i in range(7, 23)]
    assert {r["topic"] for r in rows} == {topic} and rows[0]["timestamp"] is not None


def test_client_settings_map_to_librdkafka_and_typos_fail() -> None:
    config = kafka_source.client_config(
        {"kafka.bootstrap.servers": "a:1,b:2", "kafka.security.protocol": "SSL",
         "kafka.socket.timeout.ms": "5000", "subscribe": "orders"}
    )  # fmt: skip
    assert config == {
        "bootstrap.servers": "a:1,b:2", "security.protocol": "SSL",
        "socket.timeout.ms": "5000", "isolation.level": "read_committed",
    }  # fmt: skip
    with pytest.raises(ValueError, match=r"securty\.protocol"):
        kafka_source.client_config(
            {"kafka.bootstrap.servers": "a:1", "kafka.securty.protocol": "x"}
        )
