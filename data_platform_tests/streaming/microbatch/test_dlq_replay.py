"""DLQ replay through the CLI: original bytes back on the source topic, never twice."""

import pytest

from data_platform.cli import main as cli
from data_platform.faults import FAULTS_ENV
from data_platform.kafka import client
from data_platform_tests.streaming.microbatch.test_microbatch import produce, read_topic

pytestmark = pytest.mark.kafka


@pytest.fixture
def loaded(kafka, harness_factory, monkeypatch, warehouse):
    """A topic with 1,000 events (5% poison) loaded by the sensor + micro-batch path; the CLI
    reaches the same broker and topics through the environment-free resource defaults."""
    sent = produce(kafka, 1_000, invalid_rate=0.05)
    harness_factory().drain()
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.resolved_bootstrap_servers())
    return sent


def _replay(capsys, *args: str) -> str:
    assert cli.main(["dlq", "replay", *args]) == 0
    return capsys.readouterr().out


@pytest.mark.both_backends
def test_replay_is_idempotent(kafka, loaded, warehouse, capsys) -> None:
    before = client.probe_end_offsets(kafka.librdkafka_config(), kafka.orders_topic, None, 5)
    assert "would replay 4 dead letter(s)" in _replay(capsys, "--reason", "not_json", "--dry-run")
    assert "replayed 4 dead letter(s); marked 4" in _replay(capsys, "--reason", "not_json")
    assert "replayed 0 dead letter(s)" in _replay(capsys, "--reason", "not_json")
    assert "replayed 3 dead letter(s); marked 3" in _replay(capsys, "--limit", "3")
    records = read_topic(kafka, kafka.orders_topic)
    replays = [r for r in records if any(k == "dlq.replay_of" for k, _ in r.headers)]
    assert len(records) - len(replays) == sum(before.values())
    assert len(replays) == 7
    originals = {(p, o): r.value for p, o, r in loaded}
    for record in replays:
        topic, partition, offset = dict(record.headers)["dlq.replay_of"].decode().rsplit("/", 2)
        assert topic == kafka.orders_topic
        assert record.value == originals[(int(partition), int(offset))]
    with warehouse.connect(read_only=True) as conn:
        marked = conn.execute(
            "SELECT COUNT(*) FROM stream.orders_dlq WHERE replayed_at IS NOT NULL"
        ).fetchone()[0]
    assert marked == 7


def test_replay_interrupted_before_marking_is_not_marked(
    kafka, loaded, warehouse, capsys, monkeypatch
) -> None:
    monkeypatch.setenv(FAULTS_ENV, "dlq.after_publish")
    with pytest.raises(Exception, match=r"dlq\.after_publish"):
        cli.main(["dlq", "replay", "--reason", "tombstone"])
    with warehouse.connect(read_only=True) as conn:
        marked = conn.execute(
            "SELECT COUNT(*) FROM stream.orders_dlq WHERE replayed_at IS NOT NULL"
        ).fetchone()[0]
    assert marked == 0  # nothing claimed without a finished publish
