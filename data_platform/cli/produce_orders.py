"""`data-platform produce-orders`: publish realistic order events (and poison) to Kafka."""

from __future__ import annotations

import argparse
import time
from collections import Counter

from data_platform.kafka import producer
from data_platform.orders import event_producer
from data_platform.streaming.kafka_resource import KafkaResource


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("produce-orders", help="publish order events to Kafka")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument(
        "--rate", type=float, help="records per second (default: as fast as possible)"
    )
    parser.add_argument("--invalid-rate", type=float, default=0.0, help="share of poison records")
    parser.add_argument("--late-rate", type=float, default=0.0, help="share of late events")
    parser.add_argument("--topic", help="default: the orders topic")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=run)


def produce_orders(
    kafka: KafkaResource,
    count: int,
    rate: float | None = None,
    invalid_rate: float = 0.0,
    late_rate: float = 0.0,
    seed: int = 0,
    topic: str | None = None,
) -> list[tuple[int, int, event_producer.ProducedRecord]]:
    kafka.ensure_topics()
    records = event_producer.generate(count, invalid_rate, late_rate, seed)
    return producer.produce(kafka.bounded_config(), topic or kafka.orders_topic, records, rate)


def run(args: argparse.Namespace) -> int:
    kafka = KafkaResource()
    started = time.perf_counter()
    sent = produce_orders(
        kafka, args.count, args.rate, args.invalid_rate, args.late_rate, args.seed, args.topic
    )
    seconds = time.perf_counter() - started
    poison = Counter(r.poison for _, _, r in sent if r.poison)
    print(
        f"produced {len(sent)} records to {args.topic or kafka.orders_topic} at "
        f"{kafka.resolved_bootstrap_servers()} in {seconds:.1f}s; poison: "
        f"{sum(poison.values())} {dict(sorted(poison.items()))}"
    )
    return 0
