"""The orders API over HTTP: requests with timeouts, transient faults retried by tenacity.

Its own module so that loading the definitions (which build the orders API resource) does not
import requests; the resource imports this only when a real URL is configured.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import requests
import tenacity

from data_platform.ingestion.orders_api import (
    BODY_EXCERPT_CHARS,
    OrdersApiError,
    PageContractError,
    redact,
)

_LOG = logging.getLogger(__name__)


def _retry_after_seconds(header: str | None) -> float | None:
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class TransientFault(Exception):
    """One attempt failed in a way worth retrying; `retry_after` when the server said so."""

    def __init__(self, problem: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.retry_after = retry_after


# Faults of one attempt that another attempt may not meet: the connection (refused, reset,
# timed out) and the body (a chunked body cut short, a compressed body cut short).
TRANSIENT_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass
class _Backoff:
    """tenacity wait: exponential (base * 2**(n-1), capped), or the server's Retry-After."""

    base: float
    cap: float

    def __call__(self, state: tenacity.RetryCallState) -> float:
        fault = state.outcome.exception() if state.outcome else None
        if isinstance(fault, TransientFault) and fault.retry_after is not None:
            return min(self.cap, fault.retry_after)
        return min(self.cap, self.base * 2 ** (state.attempt_number - 1))


@dataclass
class HttpTransport:
    """requests-based GET with timeouts; transient faults retried with backoff (tenacity)."""

    base_url: str
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_retries: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    token: str | None = None
    sleep: Callable[[float], None] = time.sleep
    secrets: tuple[str, ...] = field(default=(), repr=False)  # more values to mask in messages

    def __post_init__(self) -> None:
        self._session = requests.Session()
        if self.token:
            self._session.headers["Authorization"] = f"Bearer {self.token}"

    def __repr__(self) -> str:
        return f"HttpTransport(base_url={self.redact(self.base_url)!r})"

    def redact(self, text: str) -> str:
        password = urlsplit(self.base_url).password
        return redact(text, (self.token, password, *self.secrets))

    def get_json(self, path: str, params: dict[str, Any]) -> tuple[str, Any]:
        url = f"{self.base_url.rstrip('/')}/{path}"
        shown = self.redact(requests.Request("GET", url, params=params).prepare().url or url)
        attempts = self.max_retries + 1
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts),
            wait=_Backoff(self.backoff_seconds, self.max_backoff_seconds),
            retry=tenacity.retry_if_exception_type(TransientFault),
            sleep=self.sleep,
            before_sleep=lambda state: _LOG.warning(
                "GET %s: attempt %d failed (%s); retrying",
                shown,
                state.attempt_number,
                state.outcome.exception() if state.outcome else "?",
            ),
            reraise=True,
        )
        try:
            return shown, retrying(self._get_once, url, params, shown)
        except TransientFault as fault:
            raise OrdersApiError(
                f"GET {shown} failed after {attempts} attempts; last: {fault}"
            ) from None

    def _get_once(self, url: str, params: dict[str, Any], shown: str) -> Any:
        """One GET, body read and decoded; a transient fault raises TransientFault."""
        try:
            response = self._session.get(
                url, params=params, timeout=(self.connect_timeout, self.read_timeout)
            )
        except TRANSIENT_EXCEPTIONS as exc:
            raise TransientFault(self.redact(f"{type(exc).__name__}: {exc}")) from None
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            raise TransientFault(f"HTTP {status}", retry_after)
        if status >= 400:
            excerpt = self.redact(response.text)[:BODY_EXCERPT_CHARS]
            raise OrdersApiError(f"GET {shown} failed with HTTP {status}: {excerpt}")
        try:
            return response.json()
        except (ValueError, RecursionError) as exc:
            reason = self.redact(f"{type(exc).__name__}: {exc}")[:BODY_EXCERPT_CHARS]
            raise PageContractError(f"{shown}: response body is not JSON: {reason}") from None
