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


# --- engine v3: endpoint ownership across worker processes -------------------------------------


def per_path_overlap(requests) -> int:
    """The most requests one path had in flight at once."""
    most = 0
    for item in requests:
        same = [
            other
            for other in requests
            if other.path == item.path and other.at <= item.at < (other.ended or float("inf"))
        ]
        most = max(most, len(same))
    return most


def test_an_owner_killed_mid_request_is_taken_over_once_its_ownership_ran_out(
    http_server, worker_process
):
    http_server.reply(Reply(delay=2.5))
    endpoint = Endpoint.objects.create(url=http_server.url())
    worker = worker_process()
    event = send_event("order.paid", {"order_id": 1})
    http_server.wait_for(1, timeout=30)
    endpoint.refresh_from_db()
    item = Delivery.objects.get(event=event)
    assert endpoint.owner and endpoint.owned_until >= item.locked_until
    worker.kill()

    worker_process()
    call_command("webhooks_sweep")  # still owned: nothing is taken over yet
    time.sleep(1)
    assert len(http_server.requests) == 1
    assert Endpoint.objects.get(pk=endpoint.pk).owner == endpoint.owner

    wait_until(lambda: Endpoint.objects.get(pk=endpoint.pk).owned_until.timestamp() < time.time())
    call_command("webhooks_sweep")
    wait_until(lambda: Delivery.objects.get(pk=item.pk).status == "succeeded", timeout=30)
    assert len(http_server.requests) == 2
    assert list(item.attempts.order_by("number").values_list("number", "error_type")) == [
        (1, "lease_expired"),
        (2, ""),
    ]


def test_an_owner_stopped_and_resumed_sends_nothing_its_successor_took_over(
    http_server, worker_process
):
    """SIGSTOP an owner with requests queued and in flight; another worker takes the
    endpoint over once the ownership ran out; after SIGCONT the old owner sends nothing."""
    http_server.default = Reply(delay=0.3)
    endpoint = Endpoint.objects.create(url=http_server.url())
    with engine_settings(USER_AGENT="first", MAX_IN_FLIGHT_PER_ENDPOINT=2):
        first = worker_process()
    with transaction.atomic():
        events = [send_event("order.paid", {"n": n}) for n in range(30)]
    http_server.wait_for(3, timeout=30)
    first.freeze()
    frozen_at = time.monotonic()
    endpoint.refresh_from_db()
    assert endpoint.owner

    with engine_settings(USER_AGENT="second", MAX_IN_FLIGHT_PER_ENDPOINT=2):
        worker_process()
    wait_until(lambda: Endpoint.objects.get(pk=endpoint.pk).owned_until.timestamp() < time.time())
    call_command("webhooks_sweep")
    wait_until(lambda: any(r.headers["User-Agent"] == "second" for r in http_server.requests))
    first.resume()
    resumed_at = time.monotonic()
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 30, timeout=60)
    time.sleep(1)

    # A request arriving during the freeze left before it; after SIGCONT nothing may leave.
    late = [
        r for r in http_server.requests if r.headers["User-Agent"] == "first" and r.at > resumed_at
    ]
    assert late == [], f"the resumed owner sent {len(late)} requests"
    assert resumed_at > frozen_at
    for delivery in Delivery.objects.all():
        numbers = list(delivery.attempts.values_list("number", flat=True))
        assert sorted(numbers) == list(range(1, delivery.attempt_count + 1))
    received = {r.headers["webhook-id"] for r in http_server.requests}
    assert received == {str(e.pk) for e in events}
    assert per_path_overlap(http_server.requests) <= 2


def test_four_worker_processes_over_fifty_endpoints(http_server, worker_process):
    """No attempt sent twice, no endpoint over its cap, and every worker gets endpoints."""
    http_server.default = Reply(delay=0.02)
    for i in range(50):
        Endpoint.objects.create(url=http_server.url(f"/e{i}"))
    # 8 requests per process: one run cannot take all 50 endpoints, and calls for help.
    with engine_settings(MAX_IN_FLIGHT_PER_ENDPOINT=2, SEND_CONCURRENCY=8):
        workers = []
        for n in range(4):
            with engine_settings(USER_AGENT=f"worker-{n}"):
                workers.append(worker_process())
    with transaction.atomic():
        events = [send_event("order.paid", {"n": n}) for n in range(16)]
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 800, timeout=120)
    time.sleep(0.5)
    sent = [(r.path, r.headers["webhook-id"]) for r in http_server.requests]
    assert len(sent) == len(set(sent)) == 800
    assert {webhook_id for _, webhook_id in sent} == {str(e.pk) for e in events}
    assert Attempt.objects.count() == 800
    assert per_path_overlap(http_server.requests) <= 2
    senders = {r.headers["User-Agent"] for r in http_server.requests}
    assert len(senders) >= 2, senders  # the endpoints spread over the workers


def test_a_manual_retry_of_many_deliveries_to_one_endpoint_leaves_none_to_the_sweep(
    http_server, worker_process
):
    """Each retried delivery gets its own task; siblings that find the endpoint busy
    leave their delivery to a run that sends it, not to the next sweep (there is none)."""
    from webhooks_app.operations import retry_deliveries

    http_server.default = Reply(status=500)
    Endpoint.objects.create(url=http_server.url())
    with engine_settings(RETRY_SCHEDULE=[]):
        worker_process()
        with transaction.atomic():
            for n in range(6):
                send_event("order.paid", {"n": n})
        wait_until(lambda: Delivery.objects.filter(status="failed").count() == 6, timeout=30)
        http_server.default = Reply(status=200)
        with transaction.atomic():
            assert retry_deliveries(Delivery.objects.all()) == 6
        wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 6, 20)
    assert len(http_server.requests) == 12
