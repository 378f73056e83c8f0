"""The circuit breaker end to end: the engine sending to a real receiver on 127.0.0.1.

A receiver that answers 70 % of requests, with runs of six failures in a row, never
opens its circuit and gets everything delivered at once; a dead one opens it after five
failures in a row, gets one probe after each cool-down, and the first probe that
succeeds closes it. ``engine.run()`` runs in the test process, as a worker runs it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from tests.conftest import Received, Reply, wait_until
from webhooks_app import send_event
from webhooks_app.models import Attempt, Delivery, Endpoint
from webhooks_app.sending import engine, fanout

pytestmark = pytest.mark.django_db(transaction=True)

DELIVERIES = 320


def webhooks(**overrides):
    return override_settings(WEBHOOKS={**settings.WEBHOOKS, **overrides})


@pytest.fixture(autouse=True)
def _settings(no_wakeups):
    # These tests run the engine themselves; the breaker's settings are the defaults.
    with webhooks(TIMEOUT=(1, 1), RETRY_SCHEDULE=[0.05] * 20):
        yield


def events(count: int) -> None:
    for n in range(count):
        send_event("order.paid", {"n": n})
    fanout.expand_pending()


def seventy_percent() -> Callable[[Received], Reply]:
    """A reply per request, by its arrival: fourteen 200s, then six 503s, over and over."""
    arrivals = itertools.count()
    lock = threading.Lock()

    def respond(_: Received) -> Reply:
        with lock:
            number = next(arrivals)
        return Reply(status=503 if number % 20 >= 14 else 200)

    return respond


class CircuitWatch:
    """Looks at the endpoint's circuit every few milliseconds, in its own connection."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.opened = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def __enter__(self) -> CircuitWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        try:
            row = Endpoint.objects.filter(pk=self.endpoint.pk, circuit_opened_at__isnull=False)
            while not self._stop.wait(0.005):
                self.opened = self.opened or row.exists()
        finally:
            connection.close()


def run_until_settled(deadline: float) -> float:
    """Run the engine until no delivery is pending; the seconds it took."""
    started = time.monotonic()
    while Delivery.objects.filter(status=Delivery.Status.PENDING).exists():
        assert time.monotonic() - started < deadline, "deliveries still pending"
        engine.run()
    return time.monotonic() - started


def test_a_receiver_answering_70_percent_never_opens_the_circuit_and_gets_everything(
    http_server,
):
    http_server.respond = seventy_percent()
    (endpoint,) = [Endpoint.objects.create(url=http_server.url())]
    events(DELIVERIES)

    with CircuitWatch(endpoint) as watch:
        took = run_until_settled(deadline=20)

    assert not watch.opened
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == DELIVERIES
    statuses = [request.status for request in http_server.requests]
    assert len(statuses) >= DELIVERIES / 0.7 - 20  # every reply pattern was played
    failures_in_a_row = "".join("F" if status == 503 else "." for status in statuses).split(".")
    assert max(len(run) for run in failures_in_a_row) >= 6
    assert http_server.max_in_flight > 1  # never slowed down to one probe at a time
    assert took < 20


def test_a_dead_receiver_opens_the_circuit_after_five_failures_and_a_probe_closes_it(
    http_server,
):
    http_server.default = Reply(status=503)
    endpoint = Endpoint.objects.create(url=http_server.url())
    events(20)
    tried = Attempt.objects.filter(delivery__endpoint=endpoint)
    row = Endpoint.objects.filter(pk=endpoint.pk)

    def all_recorded() -> bool:
        return tried.count() == len(http_server.requests)

    with webhooks(
        TIMEOUT=(1, 1),
        RETRY_SCHEDULE=[0.05] * 20,
        MAX_IN_FLIGHT_PER_ENDPOINT=1,  # one request at a time
        CIRCUIT_BREAKER_COOLDOWN=1,
    ):
        sender = in_thread(run_until_settled, 30)
        wait_until(lambda: row.filter(circuit_opened_at__isnull=False).exists(), interval=0.01)
        seen_open = time.monotonic()
        opened = row.get()
        opened_at = opened.circuit_opened_at
        assert opened.window_requests == opened.window_failures >= 5  # every try counted failed
        # It opened in the recording of the fifth failure (a sixth request may have left
        # before that recording: the engine records in the background of its sends).
        assert tried.filter(created_at__lte=opened_at).count() == 5

        # Past the requests that had left before the circuit was seen open: the probe.
        probe = wait_until(lambda: first_request_after(http_server, seen_open + 0.1), timeout=5)
        assert probe.at - seen_open >= 0.85  # nothing during the cool-down (1 s)
        wait_until(all_recorded)
        assert row.filter(circuit_opened_at=opened_at).exists()  # the failed probe: open again

        http_server.default = Reply(status=200)  # the receiver is back
        sender.join(30)

    after = [r for r in http_server.requests if r.at > probe.at]
    assert after[0].at - probe.ended >= 0.9  # the next probe, after another cool-down
    assert after[0].status == 200
    endpoint.refresh_from_db()
    assert endpoint.circuit_opened_at is None and endpoint.circuit_failures == 0
    assert endpoint.window_failures == 0  # a closed circuit counts afresh
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 20


def first_request_after(server, moment: float) -> Received | None:
    return next((r for r in server.requests if r.at > moment), None)


def in_thread(target, *args) -> threading.Thread:
    def run() -> None:
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread
