"""Topic administration with kafka-python (the role the design gives it: a person's tool).

Every client gets an explicit `api_version` (no version probing) and short bootstrap timeouts,
so an unreachable broker fails in seconds instead of hanging.
"""

from __future__ import annotations

from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from data_platform.kafka.reachability import BrokerUnavailable, check_reachable


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
