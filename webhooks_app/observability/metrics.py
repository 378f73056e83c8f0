"""Prometheus counters, when ``prometheus_client`` is installed (``webhooks-app[metrics]``).

Counters and the histogram live in ``prometheus_client``'s default ``REGISTRY``,
created on first use (where django-prometheus and most projects look); they
count in the process that sends or receives:

- ``webhooks_deliveries_total{outcome}``: tries by what they left the delivery
  in: ``succeeded``, ``retrying``, ``failed`` (for good), ``gone`` (410);
- ``webhooks_attempts_total{result}``: tries by answer: ``2xx`` … ``5xx``, or the
  error kind when none came (``timeout``, ``connection``, ``blocked_address`` …);
- ``webhooks_attempt_duration_seconds``: a histogram of the tries' durations;
- ``webhooks_inbound_events_total{source,status}``: received events by outcome:
  ``processed``, ``duplicate``, ``failed``, ``accepted`` (for ``process_async``);
- ``webhooks_owner_mails_dropped_total{kind}``: mails to endpoint owners not sent
  because their address had its ``ALERT_MAX_PER_DAY`` that day: ``alert``,
  ``confirmation``.

The gauges are read from the database at scrape time by
:class:`~webhooks_app.metrics.collector.DatabaseCollector` (see there): the view
of ``webhooks_app.metrics.urls`` serves them with the counters, and
:func:`register_collector` adds them to a registry the project serves itself
(django-prometheus's view, say).

Without ``prometheus_client`` nothing breaks: counting is a no-op, the view
answers 501 and system check ``webhooks_app.W003`` says why.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

try:
    import prometheus_client
except ImportError:  # the optional extra is not installed: counting is a no-op
    prometheus_client = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from webhooks_app.models import Attempt
    from webhooks_app.retry import Decision


class RecordedTry(Protocol):
    """What the counters and the log line read of a recorded try
    (:class:`webhooks_app.sending.results.Outcome` is one)."""

    @property
    def attempt(self) -> Attempt: ...

    @property
    def decision(self) -> Decision: ...

    @property
    def disable_reason(self) -> str: ...


MISSING = "prometheus_client is not installed: pip install 'webhooks-app[metrics]'"

OUTCOMES = {"succeeded": "succeeded", "retry": "retrying", "failed": "failed", "gone": "gone"}
"""Label values of ``webhooks_deliveries_total`` by verdict."""

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60)


@dataclass(frozen=True)
class Instruments:
    deliveries: Any
    attempts: Any
    duration: Any
    inbound: Any
    mails_dropped: Any


_lock = threading.Lock()
_created: list[Instruments] = []  # at most one, made on first use


def instruments() -> Instruments | None:
    """The counters and histogram in the default registry (made once); None without the
    package."""
    if prometheus_client is None:
        return None
    if _created:
        return _created[0]
    with _lock:
        if not _created:
            _created.append(_make())
    return _created[0]


def _make() -> Instruments:
    made = Instruments(
        deliveries=prometheus_client.Counter(
            "webhooks_deliveries_total",
            "Delivery tries, by the state they left the delivery in.",
            ["outcome"],
        ),
        attempts=prometheus_client.Counter(
            "webhooks_attempts_total",
            "Delivery tries, by status class or, without an answer, error kind.",
            ["result"],
        ),
        duration=prometheus_client.Histogram(
            "webhooks_attempt_duration_seconds",
            "How long delivery tries took, connect to the end of the capped body read.",
            buckets=DURATION_BUCKETS,
        ),
        inbound=prometheus_client.Counter(
            "webhooks_inbound_events_total",
            "Received webhook events, by receiver source and outcome.",
            ["source", "status"],
        ),
        mails_dropped=prometheus_client.Counter(
            "webhooks_owner_mails_dropped_total",
            "Mails to endpoint owners dropped by the per-address daily cap, by kind.",
            ["kind"],
        ),
    )
    for outcome in OUTCOMES.values():  # present at 0 from the start, so rate() sees them
        made.deliveries.labels(outcome)
    return made


def attempt_result(status_code: int | None, error_type: str) -> str:
    """The ``result`` label of a try: its status class, or why no status came."""
    if status_code is not None:
        return f"{status_code // 100}xx"
    return error_type or "unknown"


def count_deliveries(outcomes: Sequence[RecordedTry]) -> None:
    made = instruments()
    if made is None:
        return
    for outcome in outcomes:
        attempt = outcome.attempt
        made.deliveries.labels(OUTCOMES[outcome.decision.verdict.value]).inc()
        made.attempts.labels(attempt_result(attempt.status_code, attempt.error_type)).inc()
        made.duration.observe(attempt.duration_ms / 1000)


def count_inbound(source: str, status: str) -> None:
    made = instruments()
    if made is not None:
        made.inbound.labels(source, status).inc()


def count_mail_dropped(kind: str) -> None:
    made = instruments()
    if made is not None:
        made.mails_dropped.labels(kind).inc()
