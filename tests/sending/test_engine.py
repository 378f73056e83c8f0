"""The batched engine: claims, concurrent sends, bulk results, isolation and flow control.

Deliveries go to a real HTTP server on 127.0.0.1; ``engine.run()`` is called in
test threads, as a worker's task would call it (tests/test_services.py runs it
in worker processes on PostgreSQL + Redis).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import Reply, wait_until
from webhooks_app import send_event, signals
from webhooks_app.api.serializers import EndpointSerializer
from webhooks_app.models import Attempt, Delivery, Endpoint
from webhooks_app.sending import claims, engine, fanout

pytestmark = pytest.mark.django_db(transaction=True)

SETTINGS = {
    "ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"],
    "TIMEOUT": (1, 1),
    "LEASE_MARGIN": 1,
    "RETRY_SCHEDULE": [60],
    "BATCH_SIZE": 50,
    "SEND_CONCURRENCY": 16,
    "MAX_IN_FLIGHT_PER_ENDPOINT": 4,
    "CIRCUIT_BREAKER_THRESHOLD": 10,
    "CIRCUIT_BREAKER_COOLDOWN": 1,
}


def configure(**changes):
    return override_settings(WEBHOOKS={**SETTINGS, **changes})


@pytest.fixture(autouse=True)
def _settings(no_wakeups):
    # These tests run the engine themselves.
    with configure():
        yield


def endpoints(server, count: int, prefix: str = "/e", **fields) -> list[Endpoint]:
    return [Endpoint.objects.create(url=server.url(f"{prefix}{i}"), **fields) for i in range(count)]


def events(count: int) -> None:
    """``count`` events, fanned out to every active endpoint."""
    for n in range(count):
        send_event("order.paid", {"n": n})
    fanout.expand_pending()


def in_thread(target, *args) -> threading.Thread:
    def run() -> None:
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


# --- claims ------------------------------------------------------------------------------------


def test_one_claim_leases_a_batch_and_reserves_attempt_numbers(http_server):
    endpoints(http_server, 10)
    events(3)
    claimed = claims.claim(100)
    assert len(claimed) == 30
    assert {d.attempt_count for d in claimed} == {1}
    rows = Delivery.objects.filter(pk__in=[d.pk for d in claimed])
    assert rows.filter(locked_until__gt=timezone.now(), attempt_count=1).count() == 30
    assert claims.claim(100) == []  # all leased


def test_a_claim_takes_at_most_the_batch_size(http_server):
    endpoints(http_server, 10)
    events(3)
    with configure(BATCH_SIZE=7):
        assert len(claims.claim(7)) == 7


def test_a_claim_is_two_statements_on_postgresql(http_server):
    endpoints(http_server, 3)
    events(4)
    with CaptureQueriesContext(connection) as queries:
        claimed = claims.claim(10)
    statements = [
        q["sql"] for q in queries if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT"))
    ]
    assert len(claimed) == 10
    # Lock the endpoints; lease and read the deliveries with their events. Elsewhere the
    # lease is a SELECT, an UPDATE and a SELECT (plus SQLite's write lock).
    assert len(statements) == (2 if connection.vendor == "postgresql" else 5), statements


def test_claimed_deliveries_come_loaded_and_converted(http_server):
    (endpoint,) = endpoints(http_server, 1, headers={"X-Tenant": "a"})
    events(1)
    (item,) = claims.claim(1)
    assert item.endpoint == endpoint and item.endpoint.headers == {"X-Tenant": "a"}
    assert item.endpoint.is_active is True
    assert item.event.payload == {"n": 0}
    assert timezone.is_aware(item.next_attempt_at) and timezone.is_aware(item.event.created_at)
    assert item.locked_until > timezone.now()
    assert item.status == Delivery.Status.PENDING and item.attempt_count == 1


def test_oldest_due_deliveries_are_claimed_first(http_server):
    endpoints(http_server, 1)
    events(6)
    claimed = claims.claim(4)
    payloads = [d.event.payload["n"] for d in claimed]
    assert payloads == [0, 1, 2, 3]


def test_parallel_claims_never_overlap(http_server):
    endpoints(http_server, 40)
    events(5)  # 200 deliveries
    claimed: list[list[int]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def claimer(mine: list[int]) -> None:
        start.wait(10)
        while True:
            batch = claims.claim_batch(15)
            mine.extend(d.pk for d in batch.deliveries)
            if not batch.deliveries and not batch.contended:
                return

    with configure(MAX_IN_FLIGHT_PER_ENDPOINT=100):
        threads = [in_thread(claimer, mine) for mine in claimed]
        for thread in threads:
            thread.join(30)
    every = [pk for mine in claimed for pk in mine]
    assert len(every) == len(set(every)) == 200


def test_requests_in_flight_per_endpoint_are_capped_across_claims(http_server):
    endpoints(http_server, 2)
    events(10)
    first = claims.claim(50)
    assert sorted(d.endpoint.url[-2:] for d in first) == ["e0"] * 4 + ["e1"] * 4
    assert claims.claim(50) == []  # both endpoints have 4 requests in flight

    results = []
    threads = [in_thread(lambda: results.extend(claims.claim(50))) for _ in range(4)]
    for thread in threads:
        thread.join(30)
    assert results == []


def test_an_expired_lease_frees_its_slot_and_records_the_lost_try(http_server):
    endpoints(http_server, 1)
    events(1)
    (item,) = claims.claim(10)
    Delivery.objects.filter(pk=item.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    (again,) = claims.claim(10)
    assert again.pk == item.pk and again.attempt_count == 2
    lost = Attempt.objects.get(delivery=item)
    assert (lost.number, lost.error_type) == (1, "lease_expired")


# --- the sending loop --------------------------------------------------------------------------


def test_a_batch_goes_out_concurrently_and_each_try_is_recorded(http_server):
    http_server.default = Reply(delay=0.3)
    endpoints(http_server, 12)
    events(1)
    assert engine.run() == 12
    assert http_server.max_in_flight >= 8  # not one after the other
    assert Delivery.objects.filter(status="succeeded", attempt_count=1).count() == 12
    assert Attempt.objects.filter(status_code=200).count() == 12


def test_fast_results_are_recorded_while_a_slow_request_is_in_flight(http_server):
    http_server.routes["/slow0"] = Reply(delay=0.8)  # within the read timeout (1 s)
    slow = endpoints(http_server, 1, prefix="/slow")[0]
    endpoints(http_server, 3, prefix="/fast")
    events(1)
    run = in_thread(engine.run)
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 3, timeout=10)
    # The fast tries are committed while the slow one is still waiting for its answer.
    assert Delivery.objects.get(endpoint=slow).status == "pending"
    assert not Attempt.objects.filter(delivery__endpoint=slow).exists()
    run.join(15)
    assert Delivery.objects.get(endpoint=slow).status == "succeeded"


def test_a_hanging_endpoint_holds_only_its_own_slots(http_server):
    """A receiver that never answers in time occupies its in-flight cap, nothing more."""
    http_server.routes["/hang0"] = Reply(delay=4)  # past the read timeout (1 s)
    hanging = endpoints(http_server, 1, prefix="/hang")[0]
    endpoints(http_server, 4, prefix="/ok")
    events(4)  # 4 tries to the hanging endpoint, 16 to the healthy ones
    with configure(MAX_IN_FLIGHT_PER_ENDPOINT=2, RETRY_SCHEDULE=[]):
        engine.run()

    healthy = Delivery.objects.exclude(endpoint=hanging)
    assert healthy.filter(status="succeeded").count() == 16
    timeouts = Attempt.objects.filter(delivery__endpoint=hanging).order_by("created_at")
    assert [a.error_type for a in timeouts] == ["timeout"] * 4
    # Every healthy delivery was recorded before the first hanging try ended.
    last_healthy = max(healthy.values_list("finished_at", flat=True))
    assert last_healthy < timeouts[0].created_at
    # Two at a time (the cap): the third request waited for a slot.
    hangs = [r.at for r in http_server.requests if r.path == "/hang0"]
    assert len(hangs) == 4
    assert hangs[2] - hangs[0] >= 0.9


def test_a_run_retries_what_falls_due_soon_itself(http_server):
    http_server.reply(Reply(status=503))
    endpoints(http_server, 1)
    events(1)
    with configure(RETRY_SCHEDULE=[0.3]):
        assert engine.run() == 2
    assert list(Attempt.objects.values_list("number", "status_code")) == [(1, 503), (2, 200)]


def test_a_retry_that_falls_due_while_alerts_go_out_is_sent_by_the_same_run(http_server):
    """Signals and owner alerts run after the commit, before the next claim: what fell due
    meanwhile is claimable, not "due later", and the run must not end without it."""

    def slow_receiver(sender, **kwargs):
        time.sleep(0.3)  # longer than the retry's delay: it is due when this returns

    http_server.reply(Reply(status=503))
    endpoints(http_server, 1)
    events(1)
    signals.endpoint_failing.connect(slow_receiver)
    try:
        with configure(RETRY_SCHEDULE=[0.05], ALERT_AFTER_FAILURES=1):
            assert engine.run() == 2
    finally:
        signals.endpoint_failing.disconnect(slow_receiver)
    assert list(Attempt.objects.values_list("number", "status_code")) == [(1, 503), (2, 200)]


def handed_on(broker) -> list:
    """The wake-ups with a countdown on the broker (a run handing its retries on)."""
    return [task for task in broker.taken() if task.eta]


def test_a_run_hands_later_work_to_a_wake_up(http_server, broker):
    http_server.reply(Reply(status=503))
    endpoints(http_server, 1)
    events(1)
    before = timezone.now()
    with configure(RETRY_SCHEDULE=[30], MAX_COUNTDOWN=300):
        assert engine.run() == 1
    after = timezone.now()
    (call,) = handed_on(broker)
    eta = datetime.fromisoformat(call.eta)
    # A countdown of 30 s, jittered by at most 25 %, from some moment of the run.
    assert before + timedelta(seconds=30 * 0.75) <= eta <= after + timedelta(seconds=30 * 1.25)


def test_a_wake_up_that_finds_nothing_starts_no_chain(http_server, broker):
    """The run that scheduled a retry hands it on; idle runs must not each add another."""
    endpoints(http_server, 1)
    events(1)
    Delivery.objects.update(next_attempt_at=timezone.now() + timedelta(seconds=30))
    broker.purge()  # the event's own wake-up
    assert engine.run() == 0
    assert broker.taken() == []


def test_nothing_is_handed_on_past_the_countdown_limit(http_server, broker):
    http_server.reply(Reply(status=503))
    endpoints(http_server, 1)
    events(1)
    with configure(RETRY_SCHEDULE=[3600], MAX_COUNTDOWN=300):
        engine.run()
    assert handed_on(broker) == []  # the sweep will find it


# --- flow control: circuit breaker, Retry-After, rate limit -------------------------------------


def test_circuit_opens_after_a_streak_and_one_probe_closes_it(http_server):
    import time

    http_server.default = Reply(status=503)
    (endpoint,) = endpoints(http_server, 1)
    events(6)
    with configure(CIRCUIT_BREAKER_THRESHOLD=3, RETRY_SCHEDULE=[0.1] * 8):
        run = in_thread(engine.run)
        wait_until(lambda: Endpoint.objects.get().circuit_opened_at is not None, timeout=10)
        opened = time.monotonic()
        http_server.default = Reply(delay=0.3)  # the receiver is back, answering slowly
        state = Endpoint.objects.get()
        assert state.circuit_state == "open" and state.paused_until > timezone.now()
        run.join(20)

    after = [r.at for r in http_server.requests if r.at > opened]
    probe, rest = after[0], after[1:]
    assert probe - opened >= 0.8  # nothing during the cool-down (1 s)
    assert rest and min(rest) - probe >= 0.29  # one probe, alone until it succeeded
    endpoint.refresh_from_db()
    assert endpoint.circuit_state == "closed"
    assert (endpoint.circuit_failures, endpoint.failure_streak) == (0, 0)
    assert Delivery.objects.filter(status="succeeded").count() == 6


def test_circuit_state_is_shown_in_the_api(http_server):
    (endpoint,) = endpoints(http_server, 1)
    now = timezone.now()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        circuit_opened_at=now, paused_until=now + timedelta(seconds=30), circuit_failures=5
    )
    endpoint.refresh_from_db()
    assert EndpointSerializer(endpoint).data["circuit_state"] == "open"
    Endpoint.objects.filter(pk=endpoint.pk).update(paused_until=now)
    endpoint.refresh_from_db()
    assert EndpointSerializer(endpoint).data["circuit_state"] == "half-open"


def test_429_with_retry_after_pauses_the_whole_endpoint(http_server):
    http_server.routes["/busy0"] = Reply(status=429, headers={"Retry-After": "1"})
    busy = endpoints(http_server, 1, prefix="/busy")[0]
    endpoints(http_server, 1, prefix="/ok")
    events(3)
    with configure(RETRY_SCHEDULE=[0.1]):
        run = in_thread(engine.run)
        wait_until(lambda: Endpoint.objects.get(pk=busy.pk).paused_until is not None, timeout=10)
        del http_server.routes["/busy0"]
        run.join(20)

    busy_requests = [r.at for r in http_server.requests if r.path == "/busy0"]
    first_answered = busy_requests[0]
    later = [at for at in busy_requests if at - first_answered > 0.05]
    # The first wave (up to the cap) was already out; after it, a one-second pause.
    assert later and min(later) - first_answered >= 0.9
    ok = [r.at for r in http_server.requests if r.path == "/ok0"]
    assert len(ok) == 3 and max(ok) - first_answered < 0.9  # the other endpoint was not paused
    assert Delivery.objects.filter(status="succeeded").count() == 6


def test_rate_limit_spaces_requests_across_runs(http_server):
    endpoints(http_server, 1, rate_limit=5)
    events(10)
    runs = [in_thread(engine.run) for _ in range(2)]  # two workers at once
    for run in runs:
        run.join(30)
    arrivals = sorted(r.at for r in http_server.requests)
    assert len(arrivals) == 10
    assert arrivals[-1] - arrivals[0] >= 9 / 5 * 0.8
    for i, start in enumerate(arrivals):
        assert sum(1 for at in arrivals[i:] if at - start < 1.0) <= 5 + 1


def test_rate_limit_must_be_positive():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        Endpoint(url="https://hooks.example.com/", rate_limit=0).full_clean()
    assert "rate_limit" in info.value.error_dict


def test_a_delivery_whose_last_try_was_lost_fails_instead_of_looping(http_server):
    """Lost tries count: with 2 tries allowed, a second lost try ends the delivery."""
    endpoints(http_server, 1)
    events(1)
    with configure(RETRY_SCHEDULE=[0.1]):
        for number in (1, 2):
            (item,) = claims.claim(10)
            assert item.attempt_count == number
            # Its worker dies mid-try: the lease runs out with nothing recorded.
            Delivery.objects.filter(pk=item.pk).update(
                locked_until=timezone.now() - timedelta(seconds=1)
            )
        assert claims.claim(10) == []
    item.refresh_from_db()
    assert item.status == "failed" and "out of attempts" in item.last_error
    assert list(item.attempts.values_list("number", "error_type")) == [
        (1, "lease_expired"),
        (2, "lease_expired"),
    ]
    assert http_server.requests == []


# --- ownership ---------------------------------------------------------------------------------


def test_saving_an_endpoint_loaded_earlier_leaves_its_ownership_alone(http_server):
    (endpoint,) = endpoints(http_server, 1)
    loaded = Endpoint.objects.get(pk=endpoint.pk)  # e.g. the admin's change form
    until = timezone.now() + timedelta(seconds=30)
    Endpoint.objects.filter(pk=endpoint.pk).update(owner="worker-a", owned_until=until)
    loaded.description = "edited"
    loaded.save()
    endpoint.refresh_from_db()
    assert (endpoint.owner, endpoint.owned_until, endpoint.description) == (
        "worker-a",
        until,
        "edited",
    )


def test_a_run_owns_the_endpoints_it_sends_to_and_gives_them_up_after(http_server):
    http_server.default = Reply(delay=0.2)
    (endpoint,) = endpoints(http_server, 1)
    events(6)
    owners = []

    def look(_) -> None:  # in the server's thread: its own connection, closed after
        try:
            owners.append(Endpoint.objects.values_list("owner", "owned_until").get(pk=endpoint.pk))
        finally:
            connection.close()

    http_server.on_request = look
    assert engine.run() == 6
    assert len({owner for owner, _ in owners}) == 1 and owners[0][0]
    leases = Delivery.objects.values_list("locked_until", flat=True)
    assert all(lease is None for lease in leases)
    endpoint.refresh_from_db()
    assert (endpoint.owner, endpoint.owned_until) == ("", None)


def test_an_owner_leases_ahead_beyond_its_requests_in_flight(http_server):
    http_server.default = Reply(delay=0.3)
    (endpoint,) = endpoints(http_server, 1)
    events(40)
    run = in_thread(engine.run)
    leased = []
    while run.is_alive():
        pending = Delivery.objects.filter(endpoint=endpoint, status="pending")
        leased.append(pending.filter(locked_until__isnull=False).count())
        time.sleep(0.02)
    assert Delivery.objects.filter(status="succeeded").count() == 40
    assert http_server.max_in_flight == 4  # the cap
    # Queued beyond the 4 in flight (at most 4 per allowed request more).
    assert 4 < max(leased) <= 4 + 4 * 4


def test_a_run_whose_endpoint_was_taken_over_stops_sending_to_it(http_server):
    """As when an owner was stopped past its ownership and another took over."""
    http_server.default = Reply(delay=0.2)
    (endpoint,) = endpoints(http_server, 1)
    events(30)
    taken = threading.Event()

    def take_over(item) -> None:
        if len(http_server.requests) == 2 and not taken.is_set():
            try:
                Endpoint.objects.filter(pk=endpoint.pk).update(
                    owner="someone-else", owned_until=timezone.now() + timedelta(seconds=60)
                )
            finally:
                connection.close()  # the server thread's own connection
            taken.set()

    http_server.on_request = take_over
    engine.run()
    assert taken.is_set()
    # What was on the wire when the renewal found the endpoint taken, and no more.
    assert len(http_server.requests) <= 2 + 4 + 4
    assert len(http_server.requests) < 30
    for delivery in Delivery.objects.all():  # the queue was given back: nothing is lost
        assert delivery.attempts.count() == delivery.attempt_count
        if delivery.status == "pending":
            assert delivery.locked_until is None


def test_a_queued_delivery_whose_lease_runs_short_is_given_back_unsent(http_server):
    # One request at a time, each taking 3.8 s of a 4.5 s deadline: the delivery leased
    # ahead with the first cannot be sent within its lease (under 1 s would be left).
    http_server.default = Reply(delay=3.8)
    endpoints(http_server, 1)
    events(3)
    with configure(MAX_IN_FLIGHT_PER_ENDPOINT=1, TIMEOUT=(0.5, 4)):
        engine.run()
    assert Delivery.objects.filter(status="succeeded").count() == 3
    assert len(http_server.requests) == 3
    for delivery in Delivery.objects.all():
        assert delivery.attempt_count == 1  # a given-back lease takes its number back
        assert list(delivery.attempts.values_list("number", "status_code")) == [(1, 200)]
