"""How long to wait and when to try again: timeouts, retry policy, Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["FetchLimits", "RetryPolicy", "Timeouts"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. `total` bounds one whole operation — a read, every page of a search, a patient fetch —
    including retries and their waits, so a caller always gets an answer or an error in bounded time."""

    connect: float = 5.0
    read: float = 30.0
    total: float = 60.0

    def for_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.connect)


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """How much a FHIR server may make us hold, checked while the bytes arrive (never after a whole body).

    `max_response_bytes` bounds one response body (decoded); `max_client_bytes` every body one client receives
    (a hook call's client: the sum over all its fetches; None for long-lived clients such as a sweep's);
    `max_page_entries` one searchset page's entries; `max_pages` the pages of one search."""

    max_response_bytes: int = 64 * 1024 * 1024
    max_client_bytes: int | None = None
    max_page_entries: int = 10_000
    max_pages: int = 100

    def __post_init__(self) -> None:
        if self.max_response_bytes < 1 or self.max_page_entries < 1 or self.max_pages < 1:
            raise ValueError("FetchLimits: every limit must be at least 1")
        if self.max_client_bytes is not None and self.max_client_bytes < 1:
            raise ValueError("FetchLimits.max_client_bytes must be at least 1")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry 429, transient 5xx and connection failures with exponential backoff and jitter.

    `attempts` counts every try, the first included. A Retry-After header replaces the backoff, cut to
    `max_retry_after` so a server cannot park us for an hour.
    """

    attempts: int = 4
    backoff: float = 0.5  # the first wait; doubles with each retry
    max_backoff: float = 8.0
    max_retry_after: float = 30.0
    statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})  # 501/505 are permanent

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")

    def delay(self, retry: int, retry_after: str | None = None, *, now: datetime | None = None) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        asked = parse_retry_after(retry_after, now=now)
        if asked is not None:
            return min(asked, self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (retry - 1))
        # "Equal jitter": at least half the backoff, so clients that failed together do not retry together.
        return ceiling / 2 + random.uniform(0.0, ceiling / 2)  # jitter, not security


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: either delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
