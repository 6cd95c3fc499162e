"""Read exact offset ranges over the Kafka wire protocol (Metadata + Fetch), batches decoded by
`record_batches`.

Why not kafka-python's KafkaConsumer: it turns every record into two Python objects on the way
out, which cost more than the whole micro-batch does with the record afterwards. Here the
sockets are ours, so a fetch response stays raw record batches until they are decoded into
columns. kafka-python still does the parts worth sharing: it encodes and decodes the protocol
messages and runs the SASL mechanisms. Every socket operation has a timeout.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from collections.abc import Iterator
from typing import Any

import kafka.errors as kafka_errors
from kafka.net.sasl import get_sasl_mechanism
from kafka.protocol.consumer import FetchRequest, FetchResponse
from kafka.protocol.metadata import (
    ApiVersionsRequest,
    ApiVersionsResponse,
    MetadataRequest,
    MetadataResponse,
)
from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)

from data_platform.lib.kafka_offsets import PartitionRange
from data_platform.lib.record_batches import RecordColumns, decode_batches

# Versions this client speaks: Fetch v4+ returns record batches and the last stable offset;
# up to v11 topics are named (v13 switches to topic ids).
_SUPPORTED = {
    FetchRequest.API_KEY: (4, 11),
    MetadataRequest.API_KEY: (1, 9),
    SaslHandshakeRequest.API_KEY: (1, 1),
    SaslAuthenticateRequest.API_KEY: (0, 1),
}
_FRAME = struct.Struct(">i")
_RETRY_S = 0.05


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached, or did not answer, within the time limit."""


class RangeUnavailable(RuntimeError):
    """A planned range cannot be read: the broker no longer (or not yet) has those offsets."""


def _address(server: str) -> tuple[str, int]:
    host, _, port = server.strip().rpartition(":")
    return host or "localhost", int(port)


class BrokerConnection:
    """One blocking connection: TLS and SASL as configured, then request/response pairs."""

    def __init__(self, host: str, port: int, config: dict[str, Any], timeout_s: float) -> None:
        self.host, self.port = host, port
        self.client_id = config.get("client_id") or "data-platform"
        protocol = config.get("security_protocol") or "PLAINTEXT"
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if protocol in ("SSL", "SASL_SSL"):
                context = ssl.create_default_context(cafile=config.get("ssl_cafile"))
                sock = context.wrap_socket(sock, server_hostname=host)
        except OSError as exc:
            raise BrokerUnavailable(f"cannot connect to {host}:{port}: {exc}") from exc
        self._sock = sock
        self._correlation_id = 0
        self.versions: dict[int, int] = {}
        try:
            self.versions = self._negotiate()
            if protocol.startswith("SASL_"):
                self._authenticate(config)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._sock.close()

    def request(self, message: Any, response_class: Any, version: int | None = None) -> Any:
        """Send one request and wait for its response (decoded by kafka-python)."""
        version = self.versions[message.API_KEY] if version is None else version
        self._correlation_id += 1
        message.with_header(correlation_id=self._correlation_id, client_id=self.client_id)
        try:
            self._sock.sendall(message.encode(version=version, header=True, framed=True))
            (size,) = _FRAME.unpack(self._receive(4))
            payload = self._receive(size)
        except OSError as exc:  # includes timeouts
            raise BrokerUnavailable(f"{self.host}:{self.port}: {exc or 'timed out'}") from exc
        return response_class.decode(payload, version=version, header=True)

    def _receive(self, size: int) -> bytes:
        buffer = bytearray(size)
        view, got = memoryview(buffer), 0
        while got < size:
            n = self._sock.recv_into(view[got:], size - got)
            if not n:
                raise ConnectionError("connection closed by the broker")
            got += n
        return bytes(buffer)

    def _negotiate(self) -> dict[int, int]:
        response = self.request(ApiVersionsRequest(), ApiVersionsResponse, version=0)
        if response.error_code:
            raise kafka_errors.for_code(response.error_code)("ApiVersions")
        offered = {v.api_key: (v.min_version, v.max_version) for v in response.api_keys}
        versions = {}
        for key, (low, high) in _SUPPORTED.items():
            if key in offered and max(low, offered[key][0]) <= min(high, offered[key][1]):
                versions[key] = min(high, offered[key][1])
        if FetchRequest.API_KEY not in versions or MetadataRequest.API_KEY not in versions:
            raise BrokerUnavailable(
                f"{self.host}:{self.port} offers none of Fetch v4-v11 / Metadata v1-v9"
            )
        return versions

    def _authenticate(self, config: dict[str, Any]) -> None:
        name = config.get("sasl_mechanism") or "PLAIN"
        handshake = self.request(SaslHandshakeRequest(mechanism=name), SaslHandshakeResponse)
        if handshake.error_code:
            raise kafka_errors.UnsupportedSaslMechanismError(
                f"{self.host}:{self.port} offers SASL {handshake.mechanisms}, not {name}"
            )
        mechanism = get_sasl_mechanism(name)(host=self.host, **config)
        while not mechanism.is_done():
            answer = self.request(
                SaslAuthenticateRequest(auth_bytes=mechanism.auth_bytes()),
                SaslAuthenticateResponse,
            )
            if answer.error_code:
                raise kafka_errors.SaslAuthenticationFailedError(answer.error_message or name)
            mechanism.receive(answer.auth_bytes)
        if not mechanism.is_authenticated():
            raise kafka_errors.SaslAuthenticationFailedError(f"SASL {name} was not accepted")


class RangeFetcher:
    """The records of `ranges` of one topic, as `RecordColumns` chunks in offset order per
    partition; afterwards `highwaters` holds each partition's high watermark.

    Fails, naming partitions and positions, rather than return part of a range: when no record
    arrives for `idle_timeout_s`, or when the broker no longer has an offset (retention).
    """

    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        ranges: list[PartitionRange],
        idle_timeout_s: float = 15.0,
        partition_max_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.config, self.topic = config, topic
        self.wanted = {r.partition: r for r in ranges if r.size}
        self.idle_timeout_s = idle_timeout_s
        self.partition_max_bytes = partition_max_bytes
        self.timeout_s = config.get("request_timeout_ms", 30_000) / 1000
        self.highwaters: dict[int, int] = {}
        self._connections: dict[tuple[str, int], BrokerConnection] = {}

    def __iter__(self) -> Iterator[RecordColumns]:
        positions = {p: r.start for p, r in self.wanted.items()}
        deadline = time.monotonic() + self.idle_timeout_s
        try:
            leaders = self._leaders()
            while positions:
                progressed = False
                for address, partitions in _by_leader(leaders, positions).items():
                    try:
                        response = self._connection(address).request(
                            self._fetch_request(positions, partitions), FetchResponse
                        )
                    except BrokerUnavailable:  # the leader went away: look it up again
                        self._drop(address)
                        leaders = self._leaders_until(deadline, positions)
                        break
                    for part in (p for t in response.responses for p in t.partitions):
                        chunk = self._partition(part, positions, leaders)
                        if chunk is not None and chunk.next_offset > positions[chunk.partition]:
                            progressed = True
                            if len(chunk):
                                yield chunk
                            if chunk.next_offset >= self.wanted[chunk.partition].end:
                                del positions[chunk.partition]
                            else:
                                positions[chunk.partition] = chunk.next_offset
                if progressed:
                    deadline = time.monotonic() + self.idle_timeout_s
                elif time.monotonic() > deadline:
                    self._stuck(positions, leaders)
                elif not all(p in leaders for p in positions):
                    leaders = self._leaders_until(deadline, positions)
                else:  # nothing new yet (a range ends beyond the high watermark)
                    time.sleep(_RETRY_S)
        finally:
            self.close()

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def _partition(
        self, part: Any, positions: dict[int, int], leaders: dict[int, tuple[str, int]]
    ) -> RecordColumns | None:
        partition = part.partition_index
        if partition not in positions:
            return None
        error = kafka_errors.for_code(part.error_code)
        if error is kafka_errors.OffsetOutOfRangeError:
            raise RangeUnavailable(
                f"{self.topic}/{partition}: offset {positions[partition]} is no longer (or not "
                f"yet) on the broker (high watermark {part.high_watermark}); the range "
                f"{self.wanted[partition]} cannot be read completely"
            )
        if error is not kafka_errors.NoError:
            if not error.retriable:
                raise error(f"{self.topic}/{partition}")
            leaders.pop(partition, None)  # re-resolved on the next round
            return None
        self.highwaters[partition] = part.high_watermark
        chunk = decode_batches(part.records or b"", self.topic, partition, positions[partition])
        return chunk.below(self.wanted[partition].end)

    def _fetch_request(self, positions: dict[int, int], partitions: list[int]) -> FetchRequest:
        return FetchRequest(
            replica_id=-1,
            max_wait_ms=50,  # do not idle at a range's end waiting for newer records
            min_bytes=1,
            max_bytes=64 * 1024 * 1024,
            isolation_level=0,  # read_uncommitted, as kafka-python's consumer by default
            topics=[
                FetchRequest.FetchTopic(
                    topic=self.topic,
                    partitions=[
                        FetchRequest.FetchTopic.FetchPartition(
                            partition=p,
                            fetch_offset=positions[p],
                            partition_max_bytes=self.partition_max_bytes,
                        )
                        for p in partitions
                    ],
                )
            ],
        )

    def _connection(self, address: tuple[str, int]) -> BrokerConnection:
        if address not in self._connections:
            self._connections[address] = BrokerConnection(*address, self.config, self.timeout_s)
        return self._connections[address]

    def _drop(self, address: tuple[str, int]) -> None:
        connection = self._connections.pop(address, None)
        if connection is not None:
            connection.close()

    def _leaders(self) -> dict[int, tuple[str, int]]:
        """Leader address per wanted partition, from the first bootstrap server that answers."""
        errors = []
        for server in self.config["bootstrap_servers"]:
            address = _address(server)
            try:
                metadata = self._connection(address).request(
                    MetadataRequest(
                        topics=[MetadataRequest.MetadataRequestTopic(name=self.topic)],
                        allow_auto_topic_creation=False,
                    ),
                    MetadataResponse,
                )
            except BrokerUnavailable as exc:
                self._drop(address)
                errors.append(str(exc))
                continue
            brokers = {b.node_id: (b.host, b.port) for b in metadata.brokers}
            leaders = {}
            for topic in metadata.topics:
                if topic.name == self.topic and topic.error_code:
                    error = kafka_errors.for_code(topic.error_code)
                    if not error.retriable:
                        raise error(self.topic)
                for part in topic.partitions if topic.name == self.topic else []:
                    if part.partition_index in self.wanted and part.leader_id in brokers:
                        leaders[part.partition_index] = brokers[part.leader_id]
            return leaders
        raise BrokerUnavailable("no bootstrap server answered: " + "; ".join(errors))

    def _leaders_until(
        self, deadline: float, positions: dict[int, int]
    ) -> dict[int, tuple[str, int]]:
        """Metadata again after a leader moved or a broker went away, retried until the
        idle deadline."""
        leaders: dict[int, tuple[str, int]] = {}
        while True:
            try:
                leaders = self._leaders()
                if all(p in leaders for p in positions):
                    return leaders
            except BrokerUnavailable:
                pass
            if time.monotonic() > deadline:
                self._stuck(positions, leaders)
            time.sleep(_RETRY_S)

    def _stuck(self, positions: dict[int, int], leaders: dict[int, tuple[str, int]]) -> None:
        ends = {p: self.wanted[p].end for p in positions}
        marks = {p: self.highwaters.get(p) for p in positions}
        leaderless = sorted(p for p in positions if p not in leaders)
        raise BrokerUnavailable(
            f"{self.topic}: could not read planned ranges within {self.idle_timeout_s:.0f}s "
            f"of inactivity; stuck at positions {positions} (ends {ends}, high watermarks "
            f"{marks}"
            + (f"; no leader known for partitions {leaderless}" if leaderless else "")
            + ")"
        )


def _by_leader(
    leaders: dict[int, tuple[str, int]], positions: dict[int, int]
) -> dict[tuple[str, int], list[int]]:
    grouped: dict[tuple[str, int], list[int]] = {}
    for partition in sorted(positions):
        if partition in leaders:
            grouped.setdefault(leaders[partition], []).append(partition)
    return grouped
