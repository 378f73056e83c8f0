"""The circuit breaker's rule: when an endpoint's recent tries open its circuit. Pure.

An endpoint's circuit opens on its **failure rate** over a window of recent tries, with a
minimum number of them, as Convoy's, Polly's and resilience4j's breakers do, and not on
the luck of a run: a receiver that answers 70 % of requests keeps its circuit closed
whatever runs of failures chance deals it, while a dead one still opens after ``streak``
failures in a row, whether it was idle or busy and healthy a moment before.

A try *fails* here when the endpoint itself is in trouble: a timeout, a connection
error or a retryable status (:mod:`webhooks_app.sending.health` says which). Once a try
has failed, the circuit opens (:func:`trips`) when

1. at least ``failure_rate`` of the window's tries failed, and the window holds at least
   ``min_requests`` tries or the last ``streak`` tries all failed; or
2. the last ``streak`` or more tries all failed, and a run that long is one the endpoint,
   at its failure rate over the ``min_requests`` or more tries before the run, would deal
   less than once in a million (:data:`UNLIKELY`): a busy endpoint that was healthy and
   goes down opens after ``streak`` failures, not once its failures have outnumbered a
   minute's successes; one that fails 30 % of the time needs a run of 12;
3. while it is open already, any failure (a failed probe) opens it again.

**The window** is a tumbling window on the clock (every ``length`` seconds since the
epoch, the same on every worker) whose counts are not dropped at a boundary but halved:
the window before counts half, the one before that a quarter, and so on. It stands in,
cheaply, for a sliding window that weights the previous one: three columns (the start
and two counts) and one UPDATE per group of tries whatever the time, and no cliff at the
boundary. A plain tumbling window forgets everything there: a run of failures just
after a boundary meets an empty window, where it is all the failure rate there is, and
a flaky but working endpoint opens on the luck of the boundary. A circuit that closes
starts a new window (a probe's success is a fresh start), as Convoy's and resilience4j's
breakers reset theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)

CARRIED = 2
"""A window's counts are divided by this (whole numbers, rounded down) when the next begins."""


@dataclass(frozen=True)
class Policy:
    """The breaker's settings (``CIRCUIT_BREAKER_*``)."""

    window: float
    """Seconds of a window (``CIRCUIT_BREAKER_WINDOW``)."""
    failure_rate: float
    """The share of failed tries, above 0 and at most 1, that opens the circuit."""
    min_requests: int
    """Tries the window must hold before the failure rate alone opens the circuit."""
    streak: int
    """Failures in a row that stand in for ``min_requests`` (``CIRCUIT_BREAKER_THRESHOLD``)."""


@dataclass(frozen=True)
class Window:
    """The tries counted in the window that began at ``started`` (and before, decayed)."""

    started: datetime | None = None
    requests: int = 0
    failures: int = 0

    @property
    def failure_rate(self) -> float | None:
        """The share of the counted tries that failed; None when none were counted."""
        return self.failures / self.requests if self.requests else None


def window_start(now: datetime, length: float) -> datetime:
    """The start of the window that holds ``now``: a whole number of windows since the
    epoch, so every worker agrees on it. ``now`` must be timezone-aware."""
    step = max(1, round(length * 1_000_000))
    since = (now - EPOCH) // MICROSECOND
    return EPOCH + (since - since % step) * MICROSECOND


def counted(
    window: Window, now: datetime, length: float, requests: int = 0, failures: int = 0
) -> Window:
    """``window`` as of ``now``, with ``requests`` more tries of which ``failures`` failed.

    In the same window, they add up; from the window before, its counts are carried
    halved; from an older window (or none), only the new tries count.
    """
    current = window_start(now, length)
    previous = current - timedelta(seconds=length)
    if window.started is not None and window.started >= current:
        return Window(window.started, window.requests + requests, window.failures + failures)
    if window.started is not None and window.started >= previous:
        return Window(
            current,
            window.requests // CARRIED + requests,
            window.failures // CARRIED + failures,
        )
    return Window(current, requests, failures)


def trips(window: Window, streak: int, policy: Policy, *, circuit_open: bool = False) -> bool:
    """Whether the circuit opens (or, open already, opens again) now that a try failed.

    ``window`` holds that try; ``streak`` is the failures in a row it ends.
    """
    if circuit_open:
        return True
    if window.failures >= _share(policy.failure_rate) * window.requests and (
        window.requests >= policy.min_requests or streak >= policy.streak
    ):
        return True
    return streak >= policy.streak and _unlikely_run(window, streak, policy.min_requests)


UNLIKELY = 1e-6
"""How rare a run of failures must be, at the endpoint's failure rate before it, to show
that the endpoint has gone down rather than been unlucky."""


def _unlikely_run(window: Window, streak: int, min_requests: int) -> bool:
    """Whether ``streak`` failures in a row are a run the endpoint would deal less often
    than :data:`UNLIKELY`, at its failure rate over the window's other tries, when there
    are ``min_requests`` of them at least (fewer tell too little about it)."""
    before = window.requests - streak
    if before < min_requests:
        return False
    rate = max(0, window.failures - streak) / before
    return rate**streak <= UNLIKELY


def _share(rate: float) -> Fraction:
    """``rate`` as the fraction it was written as (0.7, not 0.6999999999999999556)."""
    return Fraction(rate).limit_denominator(1_000_000)
