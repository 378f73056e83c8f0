"""Crash recovery with a real worker process on PostgreSQL + Redis (the services run)."""

import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from tests.conftest import Reply, wait_until
from webhooks_app import send_event
from webhooks_app.models import Attempt, Delivery, Endpoint

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def test_worker_killed_mid_delivery_is_recovered_by_the_sweep(http_server, worker_process):
    # The first request hangs (the worker's read timeout is 3 s in the test
    # settings); the worker is SIGKILLed while it waits for the answer.
    http_server.reply(Reply(delay=2.5))
    Endpoint.objects.create(url=http_server.url())
    worker = worker_process()
    event = send_event("order.paid", {"order_id": 42})

    http_server.wait_for(1, timeout=30)
    worker.kill()
    item = Delivery.objects.get(event=event)
    assert item.status == "pending" and item.locked_until is not None
    assert item.attempts.count() == 0

    worker_process()  # a fresh worker; the killed one's message is not redelivered soon
    # Until the lease (connect 2 + read 3 + margin 1 s) runs out, a sweep enqueues nothing.
    call_command("webhooks_sweep")
    time.sleep(1)
    assert len(http_server.requests) == 1

    wait_until(lambda: Delivery.objects.get(pk=item.pk).locked_until.timestamp() < time.time())
    call_command("webhooks_sweep")

    wait_until(lambda: Delivery.objects.get(pk=item.pk).status == "succeeded", timeout=30)
    assert len(http_server.requests) == 2
    assert {r.headers["webhook-id"] for r in http_server.requests} == {str(event.id)}
    assert list(item.attempts.order_by("number").values_list("number", "error_type")) == [
        (1, "lease_expired"),
        (2, ""),
    ]


def test_subprocess_worker_delivers_from_the_real_broker(http_server, worker_process):
    Endpoint.objects.create(url=http_server.url())
    worker_process()
    events = [send_event("order.paid", {"n": n}) for n in range(5)]
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 5, timeout=30)
    assert sorted(r.headers["webhook-id"] for r in http_server.requests) == sorted(
        str(e.id) for e in events
    )


def engine_settings(**changes) -> override_settings:
    return override_settings(WEBHOOKS={**settings.WEBHOOKS, **changes})


def test_two_worker_processes_never_send_an_attempt_twice(http_server, worker_process):
    for i in range(20):
        Endpoint.objects.create(url=http_server.url(f"/e{i}"))
    worker_process()
    worker_process()
    with transaction.atomic():
        events = [send_event("order.paid", {"n": n}) for n in range(20)]
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 400, timeout=60)
    time.sleep(0.5)
    sent = [(r.path, r.headers["webhook-id"]) for r in http_server.requests]
    assert len(sent) == len(set(sent)) == 400
    assert {webhook_id for _, webhook_id in sent} == {str(e.pk) for e in events}
    assert Attempt.objects.count() == 400


def test_in_flight_cap_holds_across_two_worker_processes(http_server, worker_process):
    http_server.default = Reply(delay=0.2)
    Endpoint.objects.create(url=http_server.url())
    with engine_settings(MAX_IN_FLIGHT_PER_ENDPOINT=3):
        worker_process()
        worker_process()
        with transaction.atomic():
            for n in range(24):
                send_event("order.paid", {"n": n})
        wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 24, timeout=60)
    assert 2 <= http_server.max_in_flight <= 3


def test_rate_limit_holds_across_two_worker_processes(http_server, worker_process):
    Endpoint.objects.create(url=http_server.url(), rate_limit=5)
    worker_process()
    worker_process()
    with transaction.atomic():
        for n in range(12):
            send_event("order.paid", {"n": n})
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 12, timeout=60)
    arrivals = sorted(r.at for r in http_server.requests)
    assert len(arrivals) == 12
    assert arrivals[-1] - arrivals[0] >= 11 / 5 * 0.8
    for i, start in enumerate(arrivals):
        assert sum(1 for at in arrivals[i:] if at - start < 1.0) <= 5 + 1


def test_a_hanging_endpoint_does_not_hold_up_the_others(http_server, worker_process):
    """9 healthy endpoints and 1 that never answers, two worker processes (prefork 2 each)."""
    http_server.routes["/hang"] = Reply(delay=5)
    hanging = Endpoint.objects.create(url=http_server.url("/hang"))
    for i in range(9):
        Endpoint.objects.create(url=http_server.url(f"/ok{i}"))
    # The breaker would pause the hanging endpoint; the in-flight cap alone must isolate it.
    with engine_settings(TIMEOUT=(1, 2), RETRY_SCHEDULE=[], CIRCUIT_BREAKER_THRESHOLD=50):
        worker_process()
        worker_process()
        for n in range(10):
            send_event("order.paid", {"n": n})
        healthy = Delivery.objects.exclude(endpoint=hanging)
        wait_until(lambda: healthy.filter(status="succeeded").count() == 90, timeout=60)
        # Every healthy delivery was done while the first hanging tries were still waiting.
        assert not Attempt.objects.filter(delivery__endpoint=hanging).exists()
        wait_until(
            lambda: Attempt.objects.filter(delivery__endpoint=hanging).count() == 10, timeout=60
        )
    assert set(
        Attempt.objects.filter(delivery__endpoint=hanging).values_list("error_type", flat=True)
    ) == {"timeout"}
