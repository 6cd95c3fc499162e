"""`data-platform dlq replay`: re-publish chosen dead letters' original bytes to their topic.

Selection, publishing and the `replayed_at` stamp happen while holding the warehouse (DuckDB
admits one writer), so two replays cannot pick the same records and a finished replay is never
repeated. Replayed records carry a `dlq.replay_of` header naming their original coordinates; a
crash between publishing and stamping leaves the records unstamped (replayed again later, and
recognisable by that header) rather than stamped but never sent.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime

from data_platform import warehouse
from data_platform.faults import fault_point
from data_platform.kafka import client
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch import stream_store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dlq", help="inspect and replay the orders dead-letter queue")
    actions = parser.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    replay_parser = actions.add_parser("replay", help="re-publish dead letters to their topic")
    replay_parser.add_argument("--reason", help="only this error code (e.g. missing_field)")
    replay_parser.add_argument(
        "--since",
        type=datetime.fromisoformat,
        help="only dead letters ingested at/after this ISO timestamp",
    )
    replay_parser.add_argument("--limit", type=int, help="at most this many records")
    replay_parser.add_argument("--dry-run", action="store_true", help="list, publish nothing")
    replay_parser.set_defaults(handler=run_replay)


@dataclass(frozen=True)
class ReplayResult:
    selected: int
    published: int
    marked: int


def _headers(letter: stream_store.DeadLetter) -> list[tuple[str, bytes | None]]:
    original = letter.original_headers()
    origin = f"{letter.topic}/{letter.partition}/{letter.offset}".encode()
    return [*original, ("dlq.replay_of", origin)]


def replay(
    kafka: KafkaResource,
    reason: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    dry_run: bool = False,
) -> ReplayResult:
    with warehouse.connect(warehouse.warehouse_from_env()) as conn:
        letters = stream_store.replayable(conn, reason, since, limit)
        if dry_run or not letters:
            return ReplayResult(len(letters), 0, 0)
        config = kafka.librdkafka_config()
        published = 0
        for topic in sorted({d.topic for d in letters}):
            published += client.publish(
                config,
                topic,
                [(d.key, d.payload, _headers(d)) for d in letters if d.topic == topic],
            )
        fault_point("dlq.after_publish")
        marked = stream_store.mark_replayed(conn, letters, warehouse.utcnow())
    return ReplayResult(len(letters), published, marked)


def run_replay(args: argparse.Namespace) -> int:
    since = args.since.astimezone() if args.since and args.since.tzinfo is None else args.since
    result = replay(KafkaResource(), args.reason, since, args.limit, args.dry_run)
    verb = "would replay" if args.dry_run else "replayed"
    print(
        f"{verb} {result.selected if args.dry_run else result.published} dead letter(s)"
        f"{'' if args.dry_run else f'; marked {result.marked} as replayed'}"
    )
    return 0
