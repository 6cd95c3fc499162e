"""A TLS (and SASL/PLAIN) front for the test broker, which speaks neither in this build.

It terminates TLS with a throwaway self-signed certificate, answers SaslHandshake and
SaslAuthenticate itself (checking one user's PLAIN credentials) and relays every other request
to the broker unchanged. The broker advertises the proxy's address, so clients reach the broker
only through it, as they would a secured cluster.
"""

from __future__ import annotations

import socket
import ssl
import struct
import subprocess
import threading
from pathlib import Path

from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeResponse,
)

SASL_HANDSHAKE, SASL_AUTHENTICATE = 17, 36


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, made with Debian's openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def _read_frame(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", _read_exact(sock, 4))
    return _read_exact(sock, size)


class SecureProxy:
    def __init__(
        self,
        listen: socket.socket,
        broker: tuple[str, int],
        cert: Path,
        key: Path,
        plain_user: tuple[str, str] | None = None,
    ) -> None:
        self.listen, self.broker, self.plain_user = listen, broker, plain_user
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.rejected_logins = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listen.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
            with client, socket.create_connection(self.broker) as upstream:
                authenticated = self.plain_user is None
                while True:
                    frame = _read_frame(client)
                    api_key, version, correlation_id = struct.unpack_from(">hhi", frame)
                    if api_key in (SASL_HANDSHAKE, SASL_AUTHENTICATE):
                        reply, authenticated = self._sasl(frame, api_key, version, correlation_id)
                        client.sendall(reply)
                        continue
                    if not authenticated and api_key != 18:  # ApiVersions is always allowed
                        return
                    upstream.sendall(struct.pack(">i", len(frame)) + frame)
                    response = _read_frame(upstream)
                    client.sendall(struct.pack(">i", len(response)) + response)
        except (OSError, ConnectionError, ssl.SSLError):
            return

    def _sasl(self, frame: bytes, api_key: int, version: int, correlation_id: int):
        if api_key == SASL_HANDSHAKE:
            response = SaslHandshakeResponse(error_code=0, mechanisms=["PLAIN"])
            return _encode(response, version, correlation_id), False
        token = SaslAuthenticateRequest.decode(frame, version=version, header=True).auth_bytes
        _, user, password = bytes(token).decode().split("\0")
        ok = self.plain_user == (user, password)
        self.rejected_logins += not ok
        response = SaslAuthenticateResponse(
            error_code=0 if ok else 58,  # SASL_AUTHENTICATION_FAILED
            error_message=None if ok else "invalid credentials",
            auth_bytes=b"",
        )
        return _encode(response, version, correlation_id), ok


def _encode(response, version: int, correlation_id: int) -> bytes:
    response.API_VERSION = version
    response.with_header(correlation_id=correlation_id)
    return response.encode(header=True, framed=True)
