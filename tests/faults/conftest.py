"""Fixtures of the fault suite: a cluster of real processes on the chosen broker."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from tests.conftest import SERVICES
from tests.faults.harness import RUN, Cluster, unique_queue

AMQP_URL = os.environ.get("WEBHOOKS_FAULTS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
"""The RabbitMQ broker of the ``rabbitmq`` runs (`.ci/run` starts RabbitMQ when it is down)."""


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 5672), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def broker() -> str:
    """The broker a scenario runs on: ``redis`` (the run's own broker) unless parametrized."""
    return "redis"


def celery_app_for(broker: str):
    """A Celery app of the test project, on ``broker``, for the test process alone.

    Each scenario has its own, dropped afterwards, so the connections that a
    fault breaks are never reused by another test.
    """
    from celery import Celery

    app = Celery("tests-faults", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    if broker == "rabbitmq":
        # CELERY_BROKER_URL in the environment outranks broker_url; these two outrank it.
        app.conf.update(broker_read_url=AMQP_URL, broker_write_url=AMQP_URL)
    return app


@pytest.fixture
def cluster(transactional_db, broker) -> Iterator[Callable[..., Cluster]]:
    """``cluster(**WEBHOOKS changes)``: a Cluster on ``broker`` and a queue of its own.

    The test process's wake-ups and sweeps go to the same broker, through a
    Celery app made current (and default, for other threads) while it runs.
    """
    if not SERVICES:
        pytest.skip("needs DATABASE_URL and CELERY_BROKER_URL (the services run)")
    if broker == "rabbitmq" and not _reachable(AMQP_URL):
        pytest.skip(f"RabbitMQ is not reachable at {AMQP_URL}")
    from celery import _state

    previous = (_state._tls.current_app, _state.default_app)
    opened: list[Cluster] = []

    def open_cluster(**webhooks) -> Cluster:
        item = Cluster(
            lambda: celery_app_for(broker),
            broker,
            AMQP_URL if broker == "rabbitmq" else None,
            unique_queue(),
        )
        opened.append(item.configure(**webhooks))
        return item

    yield open_cluster
    for item in opened:
        item.close()
    _state._tls.current_app, _state.default_app = previous


def pytest_terminal_summary(terminalreporter) -> None:
    if RUN:
        terminalreporter.section("fault suite figures (benchmarks/results/faults.json)")
        for figures in RUN:
            terminalreporter.write_line(figures.summary())
