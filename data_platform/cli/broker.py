"""`data-platform broker` (a local Kafka-protocol broker for dev and demos) and
`data-platform kafka ensure-topics | forget-topic` (topic set-up and stream-state reset)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time

from data_platform import warehouse
from data_platform.cli import earlier_broker
from data_platform.cli.demo_console import say
from data_platform.kafka.local_broker import LocalBroker, parent_death_signal
from data_platform.kafka.reachability import BrokerUnavailable, check_reachable
from data_platform.paths import state_dir
from data_platform.streaming.kafka_resource import BOOTSTRAP_ENV, KafkaResource
from data_platform.streaming.microbatch import stream_store

# How long a command gets to stop its own children after Ctrl-C, then after SIGTERM.
CHILD_SHUTDOWN_S = 30.0


def register(subparsers: argparse._SubParsersAction) -> None:
    broker = subparsers.add_parser(
        "broker", help="run a local Kafka-protocol broker (optionally around a command)"
    )
    broker.add_argument("--port", type=int, default=9092, help="0 picks a free port")
    broker.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help="-- CMD...: run CMD with KAFKA_BOOTSTRAP_SERVERS set, then stop",
    )
    broker.set_defaults(handler=run_broker)
    kafka = subparsers.add_parser("kafka", help="Kafka topic set-up")
    actions = kafka.add_subparsers(dest="kafka_command", required=True, metavar="ACTION")
    ensure = actions.add_parser("ensure-topics", help="create the orders topics if missing")
    ensure.set_defaults(handler=run_ensure_topics)
    forget = actions.add_parser("forget-topic", help="delete a topic's rows from stream.*")
    forget.add_argument("--topic", required=True)
    forget.set_defaults(handler=run_forget_topic)


def _listening(port: int) -> bool:
    try:
        check_reachable([f"127.0.0.1:{port}"], 1.0)
        return True
    except BrokerUnavailable:
        return False


def run_broker(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the broker on SIGTERM too
    broker = None
    if args.port and _listening(args.port):
        say(f"a broker is already listening on 127.0.0.1:{args.port}; using it")
        servers = f"127.0.0.1:{args.port}"
    else:
        log = state_dir() / "tansu.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        broker = LocalBroker(port=args.port, log_path=log).start()
        servers = broker.bootstrap_servers
        say(f"local Kafka broker on {servers} (in memory; log {log})")
    os.environ[BOOTSTRAP_ENV] = servers
    try:
        created = KafkaResource().ensure_topics()
        say(f"topics created: {created or 'none (already there)'}")
        if broker is not None:  # a broker of ours is new and empty: older offsets are stale
            _forget_earlier_broker()
        if command:
            return _run_until_done(command)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 130
    finally:
        if broker is not None:
            broker.stop()


def _forget_earlier_broker() -> None:
    """Say what was cleared; a warehouse that cannot be opened now (another process writing)
    only costs the sensors' own messages later, so it does not stop the command."""
    try:
        cleared = earlier_broker.forget_earlier_broker(KafkaResource())
    except Exception as exc:  # reported; the command still runs
        say(f"could not check the warehouse for an earlier broker's stream state: {exc}")
        return
    if cleared:
        say(cleared)


def _run_until_done(command: list[str]) -> int:
    """Run the command; on Ctrl-C (which the terminal sends to the command as well) give it
    time to stop its own children before it is terminated, then killed."""
    # The command stops (SIGTERM) if this process dies, as the broker does (SIGKILL).
    child = subprocess.Popen(command, preexec_fn=parent_death_signal(signal.SIGTERM))
    try:
        return child.wait()
    except KeyboardInterrupt:
        with contextlib.suppress(subprocess.TimeoutExpired, KeyboardInterrupt):
            child.wait(timeout=CHILD_SHUTDOWN_S)
        return 130
    finally:
        for stop in (child.terminate, child.kill):
            if child.poll() is not None:
                break
            stop()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=CHILD_SHUTDOWN_S)


def run_ensure_topics(args: argparse.Namespace) -> int:
    kafka = KafkaResource()
    created = kafka.ensure_topics()
    print(f"{kafka.resolved_bootstrap_servers()}: created {created or 'nothing (all present)'}")
    return 0


def run_forget_topic(args: argparse.Namespace) -> int:
    with warehouse.connect(warehouse.warehouse_from_env()) as conn:
        deleted = stream_store.forget_topic(conn, args.topic)
    print(f"deleted rows of topic {args.topic!r}: {deleted}", file=sys.stdout)
    return 0
