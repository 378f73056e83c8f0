"""The circuit breaker as recording keeps it: real tries written by ``recording.record``.

The rule itself is tested on plain values in tests/test_breaker.py; here, that the
window is counted in the database as the rule counts it, in one UPDATE per endpoint and
group that loses nothing when two workers record at once, and that the circuit opens,
stays closed and closes on what was recorded.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from webhooks_app import breaker, retry, transport
from webhooks_app.models import Delivery, Endpoint, Event
from webhooks_app.sending import attempt, claims, recording, results

OK, FAILED, TIMED_OUT, REFUSED = 200, 503, "timeout", 400


def webhooks(**overrides):
    return override_settings(WEBHOOKS={**settings.WEBHOOKS, **overrides})


@pytest.fixture(autouse=True)
def _breaker():
    """The defaults of the breaker, the test settings otherwise (RETRY_SCHEDULE keeps
    every failed delivery pending, so that a delivery is claimed again and again)."""
    with webhooks(RETRY_SCHEDULE=[0] * 100):
        yield


def endpoint(**fields) -> Endpoint:
    return Endpoint.objects.create(url="http://127.0.0.1:9/hook", **fields)


def deliveries(to: Endpoint, count: int) -> None:
    """``count`` deliveries to ``to``, due now."""
    now = timezone.now()
    events = Event.objects.bulk_create(
        [Event(event_type="order.paid", payload={"n": n}) for n in range(count)]
    )
    Delivery.objects.bulk_create(
        [Delivery(event=event, endpoint=to, next_attempt_at=now) for event in events]
    )


def result(item: Delivery, answer: int | str) -> results.Result:
    """The try ``item`` as if the receiver answered ``answer`` (a status, or "timeout")."""
    if isinstance(answer, str):
        response = transport.Response(None, "", {}, 1000, error_kind=retry.ErrorKind.TIMEOUT)
    else:
        response = transport.Response(answer, "", {}, 5)
    return results.Result(item, response, attempt.decide(item.attempt_count, response))


def tries(*answers: int | str) -> list[results.Result]:
    """Claim one delivery per answer: the tries, as if the receiver answered so."""
    claimed = claims.claim(len(answers), timezone.now() + timedelta(days=1))
    assert len(claimed) == len(answers)
    return [result(item, answer) for item, answer in zip(claimed, answers, strict=True)]


def record(*answers: int | str) -> None:
    """Record one try per answer, together, as one group."""
    recording.record(tries(*answers))


def record_one_by_one(*answers: int | str) -> None:
    for answer in answers:
        record(answer)


def state(of: Endpoint) -> Endpoint:
    of.refresh_from_db()
    return of


def is_open(of: Endpoint) -> bool:
    return state(of).circuit_opened_at is not None


# --- when the circuit opens -------------------------------------------------------------------


@pytest.mark.django_db
def test_five_timeouts_in_a_row_open_a_new_endpoints_circuit():
    dead = endpoint()
    deliveries(dead, 1)
    record_one_by_one(*[TIMED_OUT] * 4)
    assert not is_open(dead)
    record(TIMED_OUT)
    assert is_open(dead)
    assert state(dead).paused_until > timezone.now() + timedelta(seconds=25)  # the cool-down
    assert (dead.window_requests, dead.window_failures) == (5, 5)


@pytest.mark.django_db
def test_an_endpoint_that_answers_70_percent_stays_closed_through_runs_of_six_failures():
    flaky = endpoint()
    deliveries(flaky, 150)
    for _ in range(10):  # 200 tries, in groups of up to 8, as a worker records them
        answers = [OK] * 14 + [FAILED] * 6
        for start in range(0, 20, 8):
            record(*answers[start : start + 8])
            assert not is_open(flaky)
    assert (flaky.window_requests, flaky.window_failures) == (200, 60)
    assert flaky.circuit_failures == 6  # six in a row, all counted


@pytest.mark.django_db
def test_a_busy_endpoint_that_goes_down_opens_after_five_failures():
    busy = endpoint()
    deliveries(busy, 45)
    for _ in range(5):
        record(*[OK] * 8)
    record(FAILED, TIMED_OUT, FAILED, TIMED_OUT)
    assert not is_open(busy)
    record(FAILED)
    assert is_open(busy)
    assert (busy.window_requests, busy.window_failures, busy.circuit_failures) == (45, 5, 5)


@pytest.mark.django_db
def test_half_the_tries_failing_open_it_once_the_window_holds_twenty():
    """No two failures in a row: the failure rate alone opens it, at the twentieth try."""
    halves = endpoint()
    deliveries(halves, 11)
    for _ in range(9):
        record(OK, FAILED)
    record(OK)
    assert not is_open(halves)
    record(FAILED)
    assert is_open(halves)
    assert (halves.window_requests, halves.window_failures) == (20, 10)


@pytest.mark.django_db
def test_answers_that_are_not_the_endpoints_trouble_count_as_tries_not_failures():
    """A 400 is the receiver refusing this payload: it is up. Nothing opens the circuit."""
    picky = endpoint()
    deliveries(picky, 30)
    with webhooks(RETRY_CLIENT_ERRORS=True, MAX_IN_FLIGHT_PER_ENDPOINT=30):
        record(*[REFUSED] * 30)
    assert not is_open(picky)
    assert (picky.window_requests, picky.window_failures) == (30, 0)


@pytest.mark.django_db
def test_the_settings_decide():
    flaky = endpoint()
    deliveries(flaky, 10)
    with webhooks(CIRCUIT_BREAKER_FAILURE_RATE=0.3, CIRCUIT_BREAKER_MIN_REQUESTS=10):
        record(OK, OK, OK, OK, OK)
        record(OK, FAILED, OK, FAILED)
        assert not is_open(flaky)
        record(FAILED)  # 3 of 10
        assert is_open(flaky)


# --- probes -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failed_probe_opens_it_again_and_a_successful_one_closes_it_with_a_new_window():
    dead = endpoint()
    deliveries(dead, 2)
    record_one_by_one(*[FAILED] * 5)
    opened = state(dead).circuit_opened_at
    Endpoint.objects.filter(pk=dead.pk).update(paused_until=timezone.now())  # cooled down

    record(FAILED)  # the probe
    assert state(dead).circuit_opened_at == opened  # open since then, all along
    assert dead.paused_until > timezone.now() + timedelta(seconds=25)

    Endpoint.objects.filter(pk=dead.pk).update(paused_until=timezone.now())
    record(OK)  # the next probe
    assert not is_open(dead)
    assert (dead.window_requests, dead.window_failures, dead.circuit_failures) == (1, 0, 0)
    record(FAILED)  # one failure after the circuit closed is not a reason to open it again
    assert not is_open(dead)


# --- the window in the database -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("windows_ago", [None, 0, 1, 2, 5])
def test_the_window_is_counted_in_the_database_as_the_rule_counts_it(windows_ago):
    """Tries of the window before count half, older ones not at all: the UPDATE's CASE and
    ``breaker.counted`` agree, from any earlier window (or none)."""
    length = 60
    now = timezone.now()
    started = None
    if windows_ago is not None:
        started = breaker.window_start(now, length) - timedelta(seconds=length * windows_ago)
    counted = endpoint(window_started_at=started, window_requests=41, window_failures=11)
    deliveries(counted, 3)
    record(OK, FAILED, TIMED_OUT)
    expected = breaker.counted(
        breaker.Window(started, 41, 11), timezone.now(), length, requests=3, failures=2
    )
    found = state(counted)
    assert (found.window_requests, found.window_failures) == (
        expected.requests,
        expected.failures,
    )
    assert found.window_started_at == expected.started


@pytest.mark.django_db
def test_a_group_of_successes_is_one_update_whatever_the_number_of_endpoints():
    """Every group now changes the windows: the endpoints whose tries all succeeded share
    one UPDATE, and nothing is read. (A statement is a round trip, and a round trip of the
    recording thread waits for the GIL behind the sender threads: one per endpoint halved
    the engine's throughput to ten endpoints.)"""
    endpoints = [endpoint() for _ in range(3)]
    for each, count in zip(endpoints, (1, 2, 3), strict=True):
        deliveries(each, count)
    group = tries(*[OK] * 6)
    table = Endpoint._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        recording.record(group)
    touching = [q["sql"] for q in queries.captured_queries if f'"{table}"' in q["sql"]]
    assert len(touching) == 1 and touching[0].startswith(f'UPDATE "{table}"')
    assert [state(each).window_requests for each in endpoints] == [1, 2, 3]


@pytest.mark.django_db
def test_endpoints_that_all_succeeded_are_updated_in_order_around_the_others():
    """Their shared UPDATE comes where its first row falls in primary-key order, and takes
    its rows in that order (ORDER BY ... FOR UPDATE on PostgreSQL): the rows of a group are
    locked in one order, as one UPDATE per endpoint did."""
    first, second, third = (endpoint() for _ in range(3))
    for each in (first, second, third):
        deliveries(each, 2)
    group = tries(*[OK] * 6)
    group = [
        result(r.delivery, FAILED if r.delivery.endpoint_id == second.pk else OK) for r in group
    ]
    table = Endpoint._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        recording.record(group)
    updates = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith(f'UPDATE "{table}"')
    ]
    assert updates[0].endswith(f'"{table}"."id" = {first.pk}')
    assert updates[1].endswith(f'"{table}"."id" = {second.pk}')
    assert updates[-1].endswith(f'"{table}"."id" = {third.pk}')
    assert [state(each).window_failures for each in (first, second, third)] == [0, 2, 0]


@pytest.mark.django_db
def test_the_shared_update_locks_its_rows_in_primary_key_order():
    endpoints = [endpoint() for _ in range(3)]
    for each in endpoints:
        deliveries(each, 1)
    group = tries(OK, OK, OK)
    with CaptureQueriesContext(connection) as queries:
        recording.record(group[::-1])
    (shared,) = [q["sql"] for q in queries.captured_queries if "window_requests" in q["sql"]]
    if connection.vendor == "postgresql":  # SQLite's write lock serialises the recorders
        assert shared.endswith("ORDER BY id FOR UPDATE)")
    assert [state(each).window_requests for each in endpoints] == [1, 1, 1]


@pytest.mark.django_db
def test_a_group_with_failures_that_opens_nothing_updates_once_and_reads_once():
    flaky = endpoint()
    deliveries(flaky, 3)
    table = Endpoint._meta.db_table
    group = tries(OK, FAILED, TIMED_OUT)
    with CaptureQueriesContext(connection) as queries:
        recording.record(group)
    touching = [q["sql"].split()[0] for q in queries.captured_queries if f'"{table}"' in q["sql"]]
    assert touching == ["UPDATE", "SELECT"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_recording_one_endpoint_at_once_lose_no_count():
    """The counts are added in the UPDATE (F() expressions), not read and written back:
    tries recorded in parallel transactions all count."""
    shared = endpoint()
    deliveries(shared, 80)
    with webhooks(MAX_IN_FLIGHT_PER_ENDPOINT=80):
        claimed = claims.claim(80, timezone.now() + timedelta(days=1))
    groups = [claimed[n : n + 4] for n in range(0, 80, 4)]
    start = threading.Barrier(2)

    def worker(mine: list[list[Delivery]]) -> None:
        try:
            start.wait()
            for group in mine:
                recording.record([result(item, OK if item.pk % 3 else FAILED) for item in group])
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(groups[n::2],)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    failed = sum(1 for item in claimed if not item.pk % 3)
    assert (state(shared).window_requests, shared.window_failures) == (80, failed)
