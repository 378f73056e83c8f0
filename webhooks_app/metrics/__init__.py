"""The Prometheus scrape: the view (:mod:`.urls`), the database gauges (:mod:`.collector`),
a worker's own exporter (:func:`serve_worker_metrics`) and the worker's side of
multiprocess mode (:mod:`.workers`).

The counters themselves are :mod:`webhooks_app.observability.metrics`; without
``prometheus_client`` the view answers 501 and system check ``webhooks_app.W003``
says why.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from webhooks_app.observability.metrics import MISSING, instruments, prometheus_client

_lock = threading.Lock()
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

    For Celery workers on another machine than the web process, whose sends its
    view never sees: call it from ``celery.signals.worker_init``. A prefork pool
    sends from its child processes, so set ``PROMETHEUS_MULTIPROC_DIR`` for it
    (:mod:`webhooks_app.metrics.workers` does the rest; see
    docs/observability.md); the threads, solo, gevent and eventlet pools send
    in the process that serves. The database gauges are left to the web
    process's view. No authentication: keep ``addr`` on a private interface.
    """
    registry = process_registry()
    server, _thread = prometheus_client.start_http_server(port, addr, registry=registry)
    return server
