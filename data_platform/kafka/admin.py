"""Topic administration with kafka-python (the role the design gives it: a person's tool).

Every client gets an explicit `api_version` (no version probing) and short bootstrap timeouts,
so an unreachable broker fails in seconds instead of hanging.
"""

from __future__ import annotations

from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from data_platform.kafka.reachability import BrokerUnavailable, check_reachable

# Re-exported: callers catch kafka-python's errors without importing the client library.
__all__ = ["NO_TOPIC_ID", "KafkaError", "TopicMissing", "ensure_topics", "topic_id"]

NO_TOPIC_ID = "00000000-0000-0000-0000-000000000000"


class TopicMissing(RuntimeError):
    """The topic to read does not exist on the broker."""


def _admin(config: dict[str, Any]) -> KafkaAdminClient:
    check_reachable(config["bootstrap_servers"], 2.0)
    try:
        return KafkaAdminClient(**config)
    except KafkaError as exc:
        raise BrokerUnavailable(f"admin client could not bootstrap: {exc}") from exc


def ensure_topics(config: dict[str, Any], topics: dict[str, int]) -> list[str]:
    """Create missing topics with the given partition counts (idempotent); returns those created."""
    admin = _admin(config)
    try:
        existing = set(admin.list_topics())
        created = []
        for name, partitions in topics.items():
            if name in existing:
                continue
            try:
                admin.create_topics([NewTopic(name, partitions, 1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # created concurrently by another process: that is the goal
        return created
    finally:
        admin.close()


def topic_id(config: dict[str, Any], topic: str) -> str | None:
    """The topic's id (a UUID Kafka assigns at creation), or None when the broker does not
    report ids (Kafka < 2.8); TopicMissing when the topic does not exist."""
    admin = KafkaAdminClient(**config)
    try:
        described = admin.describe_topics([topic])
    except Exception as exc:  # kafka-python raises per error code
        raise TopicMissing(f"Kafka topic {topic!r} cannot be described: {exc}") from exc
    finally:
        admin.close()
    if not described or described[0].get("error_code", 0) != 0:
        raise TopicMissing(f"Kafka topic {topic!r} does not exist")
    found = described[0].get("topic_id")
    return None if not found or str(found) == NO_TOPIC_ID else str(found)
