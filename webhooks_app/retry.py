"""Retry policy: what an attempt's outcome means and when to try again.

Pure functions, no Django and no HTTP library: they take plain numbers and
strings, so the policy is easy to read and to test.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

JITTER = 0.2
"""Each delay is scaled by a random factor in [1 - JITTER, 1 + JITTER]."""

RETRYABLE_STATUSES = frozenset({408, 425, 429})


class Verdict(enum.StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"
    GONE = "gone"  # 410: the receiver asks us to stop; the endpoint is disabled.


class ErrorKind(enum.StrEnum):
    """Why an attempt got no HTTP status at all."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    BLOCKED = "blocked_address"
    INVALID_URL = "invalid_url"
    LEASE_EXPIRED = "lease_expired"
    # The worker stalled (stopped, starved) past the request's deadline before sending
    # it; nothing went out, so its lease (perhaps another worker's by now) is left alone.
    NOT_SENT = "not_sent"
    # A status arrived but its body could not be read whole; the status decides.
    RESPONSE_BODY = "response_body"
    # The endpoint's stored settings cannot make a request: fixing them is the cure.
    INVALID_HEADER = "invalid_header"
    INVALID_SECRET = "invalid_secret"  # noqa: S105 - a name, not a secret
    # Anything else that went wrong on our side; the schedule goes on.
    INTERNAL = "internal_error"


TRANSIENT_ERRORS = frozenset(
    {
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.LEASE_EXPIRED,
        ErrorKind.NOT_SENT,
        ErrorKind.INTERNAL,
    }
)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    delay: float | None = None  # seconds until the next attempt, for RETRY
    reason: str = ""


def classify(
    status_code: int | None, error_kind: str | None = None, *, retry_client_errors: bool = False
) -> Verdict:
    """Map an HTTP status (or a transport error) to a verdict, ignoring attempt limits."""
    if status_code is None:
        return Verdict.RETRY if error_kind in TRANSIENT_ERRORS else Verdict.FAILED
    if 200 <= status_code < 300:
        return Verdict.SUCCEEDED
    if status_code == 410:
        return Verdict.GONE
    if status_code in RETRYABLE_STATUSES or status_code >= 500:
        return Verdict.RETRY
    if retry_client_errors and 400 <= status_code < 500:
        return Verdict.RETRY
    return Verdict.FAILED  # 3xx (redirects are never followed) and other 4xx


def jittered(delay: float, rng: random.Random | None = None) -> float:
    """``delay`` scaled by a random factor within ±JITTER."""
    factor = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return max(0.0, delay * factor)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def next_delay(
    attempt_number: int,
    schedule: Sequence[float],
    *,
    retry_after: float | None = None,
    max_retry_after: float = 3600,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds before the attempt after ``attempt_number``; None when out of attempts.

    Attempts are numbered from 1, and ``schedule[n - 1]`` is the wait after
    attempt ``n``. A ``Retry-After`` longer than the scheduled delay is honoured,
    up to ``max_retry_after``.
    """
    if attempt_number < 1 or attempt_number > len(schedule):
        return None
    delay = jittered(float(schedule[attempt_number - 1]), rng)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max_retry_after))
    return delay


def decide(
    attempt_number: int,
    status_code: int | None,
    error_kind: str | None,
    schedule: Sequence[float],
    *,
    retry_after: str | None = None,
    max_retry_after: float = 3600,
    retry_client_errors: bool = False,
    rng: random.Random | None = None,
) -> Decision:
    """What to do with a delivery after one attempt."""
    verdict = classify(status_code, error_kind, retry_client_errors=retry_client_errors)
    if verdict is Verdict.SUCCEEDED:
        return Decision(verdict)
    reason = f"HTTP {status_code}" if status_code is not None else str(error_kind)
    if verdict is Verdict.GONE:
        return Decision(verdict, reason="The endpoint answered 410 Gone")
    if verdict is Verdict.FAILED:
        return Decision(verdict, reason=f"{reason} is not retried")
    delay = next_delay(
        attempt_number,
        schedule,
        retry_after=parse_retry_after(retry_after),
        max_retry_after=max_retry_after,
        rng=rng,
    )
    if delay is None:
        return Decision(Verdict.FAILED, reason=f"{reason}; out of attempts ({attempt_number})")
    return Decision(Verdict.RETRY, delay=delay, reason=reason)
