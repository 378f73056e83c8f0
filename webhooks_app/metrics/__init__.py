"""Prometheus metrics, when ``prometheus_client`` is installed (``webhooks-app[metrics]``).

Counters and the histogram live in ``prometheus_client``'s default ``REGISTRY``,
created on first use (where django-prometheus and most projects look); they
count in the process that sends or receives:

- ``webhooks_deliveries_total{outcome}``: tries by what they left the delivery
  in: ``succeeded``, ``retrying``, ``failed`` (for good), ``gone`` (410);
- ``webhooks_attempts_total{result}``: tries by answer: ``2xx`` … ``5xx``, or the
  error kind when none came (``timeout``, ``connection``, ``blocked_address`` …);
- ``webhooks_attempt_duration_seconds``: a histogram of the tries' durations;
- ``webhooks_inbound_events_total{source,status}``: received events by outcome:
  ``processed``, ``duplicate``, ``failed``, ``accepted`` (for ``process_async``).

The gauges are read from the database at scrape time by
:class:`~webhooks_app.metrics.collector.DatabaseCollector` (see there): the view
of ``webhooks_app.metrics.urls`` serves them with the counters, and
:func:`register_collector` adds them to a registry the project serves itself
(django-prometheus's view, say).

Without ``prometheus_client`` nothing breaks: counting is a no-op, the view
answers 501 and system check ``webhooks_app.W003`` says why.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

try:
    import prometheus_client
except ImportError:  # the optional extra is not installed: counting is a no-op
    prometheus_client = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from webhooks_app.recording import Outcome

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
    )
    for outcome in OUTCOMES.values():  # present at 0 from the start, so rate() sees them
        made.deliveries.labels(outcome)
    return made


def attempt_result(status_code: int | None, error_type: str) -> str:
    """The ``result`` label of a try: its status class, or why no status came."""
    if status_code is not None:
        return f"{status_code // 100}xx"
    return error_type or "unknown"


def count_deliveries(outcomes: Sequence[Outcome]) -> None:
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


_registered: list[Any] = []  # registries the database collector is in


def register_collector(registry: Any = None) -> None:
    """Add the database gauges to ``registry`` (default: the default ``REGISTRY``), once.

    Only a process that serves scrapes needs them, and one such process is
    enough (every process would report the same values).
    """
    require()
    from webhooks_app.metrics.collector import DatabaseCollector

    registry = prometheus_client.REGISTRY if registry is None else registry
    with _lock:
        if any(known is registry for known in _registered):
            return
        registry.register(DatabaseCollector())
        _registered.append(registry)


def require() -> None:
    """Raise ImproperlyConfigured, with the fix, when ``prometheus_client`` is missing."""
    if prometheus_client is None:
        raise ImproperlyConfigured(MISSING)


def process_registry() -> Any:
    """This process's counters: the default registry, or in ``prometheus_client``'s
    multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set) every process's, merged."""
    require()
    instruments()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return prometheus_client.REGISTRY
    from prometheus_client import multiprocess

    registry = prometheus_client.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def scrape_registry() -> Any:
    """What the view serves: :func:`process_registry` and the database gauges.

    The gauges are added for the scrape only, not to the default registry, so that
    a worker serving that registry (:func:`serve_worker_metrics`) never queries.
    """
    from webhooks_app.metrics.collector import DatabaseCollector

    return _Together(process_registry(), DatabaseCollector())


class _Together:
    """Several collectors read as one registry (what the exposition encoders need)."""

    def __init__(self, *sources: Any) -> None:
        self.sources = sources

    def collect(self) -> Any:
        for source in self.sources:
            yield from source.collect()


def serve_worker_metrics(port: int, addr: str = "127.0.0.1") -> Any:
    """Serve this process's counters on ``http://addr:port/`` from a thread; returns the server.

    For Celery workers, whose sends the web process never sees: call it from
    ``celery.signals.worker_init``. A prefork pool sends from its child
    processes, so set ``PROMETHEUS_MULTIPROC_DIR`` for it (see
    docs/observability.md); the threads, solo, gevent and eventlet pools send
    in the process that serves. The database gauges are left to the web
    process's view. No authentication: keep ``addr`` on a private interface.
    """
    registry = process_registry()
    server, _thread = prometheus_client.start_http_server(port, addr, registry=registry)
    return server
