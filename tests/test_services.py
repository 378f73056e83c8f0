"""Crash recovery with a real worker process on PostgreSQL + Redis (the services run)."""

import time

import pytest
from django.core.management import call_command

from tests.conftest import Reply, wait_until
from webhooks_app import send_event
from webhooks_app.models import Delivery, Endpoint

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
