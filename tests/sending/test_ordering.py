"""Ordering keys: one delivery at a time per (endpoint, key), in the order the events were sent.

The first tests read the one definition of "claimable" (webhooks_app.sending.due)
on rows written by ``send_event`` and the fan-out; the rest go through real
workers (a worker thread here, or ``celery worker`` processes on PostgreSQL +
Redis) to a real receiver on 127.0.0.1 that checks, for each key, that events
arrive in order, one at a time, the next only after the previous was taken.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from tests.conftest import SERVICES, Received, RecordingServer, Reply, wait_until
from webhooks_app import send_event
from webhooks_app.models import Delivery, Endpoint, Event, OutboxEntry
from webhooks_app.sending import due, fanout

pytestmark = pytest.mark.django_db(transaction=True)


# --- the argument -------------------------------------------------------------------------------


def test_an_ordering_key_is_stored_with_a_sequence_and_copied_to_the_deliveries():
    Endpoint.objects.create(url="https://a.invalid/")
    keyed = send_event("order.paid", {}, ordering_key="order-42")
    plain = send_event("order.paid", {})
    assert (keyed.ordering_key, plain.ordering_key) == ("order-42", "")
    assert keyed.sequence < plain.sequence
    fanout.expand_pending()
    assert set(Delivery.objects.values_list("ordering_key", "sequence")) == {
        ("order-42", keyed.sequence),
        ("", plain.sequence),
    }


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ("", ValueError),
        ("k" * 256, ValueError),
        (42, TypeError),
        (b"order-42", TypeError),
        (["order-42"], TypeError),
    ],
)
def test_a_bad_ordering_key_is_refused_before_anything_is_written(key, error):
    with pytest.raises(error, match="ordering key"):
        send_event("order.paid", {}, ordering_key=key)
    assert not Event.objects.exists()


def test_an_ordering_key_of_255_characters_is_taken():
    assert send_event("order.paid", {}, ordering_key="k" * 255).ordering_key == "k" * 255


def test_sequences_follow_the_calls_within_a_transaction_and_across_transactions():
    with transaction.atomic():
        first = [send_event("order.paid", {"n": n}, ordering_key="a") for n in range(5)]
    second = [send_event("order.paid", {"n": n}, ordering_key="a") for n in range(5, 8)]
    stored = list(Event.objects.order_by("sequence").values_list("payload__n", flat=True))
    assert stored == list(range(8))
    assert [e.sequence for e in first + second] == sorted(e.sequence for e in first + second)


# --- the head of each key: the one definition of "claimable" -----------------------------------


def claimable() -> list[tuple[str, int]]:
    """(ordering key, n) of the deliveries claimable now."""
    found = due.Due.at()
    with connection.cursor() as cursor:
        cursor.execute(due.claimable(found), {**found.params(), "count": 1000})
        ids = [row[0] for row in cursor.fetchall()]
    return sorted(
        Delivery.objects.filter(pk__in=ids).values_list("ordering_key", "event__payload__n")
    )


def send(key: str | None, *numbers: int, tenant: str = "") -> list[Event]:
    return [send_event("order.paid", {"n": n}, ordering_key=key, tenant=tenant) for n in numbers]


def delivery(n: int, key: str = "a") -> Delivery:
    return Delivery.objects.get(ordering_key=key, event__payload__n=n)


@pytest.fixture
def hook() -> Endpoint:
    return Endpoint.objects.create(url="http://127.0.0.1:9/hook")


def test_only_the_head_of_each_key_is_claimable_and_unkeyed_deliveries_all_are(hook):
    send("a", 0, 1, 2)
    send("b", 0, 1)
    send(None, 0, 1)
    fanout.expand_pending()
    assert claimable() == [("", 0), ("", 1), ("a", 0), ("b", 0)]
    assert due.count_claimable(limit=100) == 4


def test_a_head_in_flight_holds_its_key(hook):
    send("a", 0, 1)
    fanout.expand_pending()
    Delivery.objects.filter(pk=delivery(0).pk).update(
        locked_until=timezone.now() + timedelta(seconds=30), attempt_count=1
    )
    assert claimable() == []
    assert due.seconds_until_next() is None  # nothing falls due before the head is done


def test_a_head_waiting_for_its_retry_holds_its_key_and_only_its_key(hook):
    send("a", 0, 1)
    send("b", 0)
    fanout.expand_pending()
    retry_at = timezone.now() + timedelta(seconds=30)
    Delivery.objects.filter(pk=delivery(0).pk).update(next_attempt_at=retry_at, attempt_count=1)
    assert claimable() == [("b", 0)]
    Delivery.objects.filter(pk=delivery(0, "b").pk).update(status="succeeded")
    assert 25 < due.seconds_until_next() <= 30  # the head's retry, not the one behind it


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_a_head_done_for_good_releases_the_next(hook, outcome):
    send("a", 0, 1, 2)
    fanout.expand_pending()
    Delivery.objects.filter(pk=delivery(0).pk).update(status=outcome)
    assert claimable() == [("a", 1)]


def test_a_key_is_held_per_endpoint(hook):
    other = Endpoint.objects.create(url="http://127.0.0.1:9/other")
    send("a", 0, 1)
    fanout.expand_pending()
    Delivery.objects.filter(endpoint=hook, event__payload__n=0).update(
        next_attempt_at=timezone.now() + timedelta(seconds=30)
    )
    Delivery.objects.filter(endpoint=other, event__payload__n=0).update(status="succeeded")
    assert list(
        Delivery.objects.filter(pk__in=claimable_ids()).values_list("endpoint", "event__payload__n")
    ) == [(other.pk, 1)]


def claimable_ids() -> list[int]:
    found = due.Due.at()
    with connection.cursor() as cursor:
        cursor.execute(due.claimable(found), {**found.params(), "count": 1000})
        return [row[0] for row in cursor.fetchall()]


def test_an_earlier_event_not_fanned_out_yet_holds_its_key(hook):
    first, second = send("a", 0, 1)
    send("b", 0)
    fanout.expand_event(second.pk)  # the later event first: a worker took it, another the first
    fanout.expand_event(Event.objects.get(ordering_key="b").pk)
    assert OutboxEntry.objects.filter(pk=first.pk).exists()
    assert claimable() == [("b", 0)]
    fanout.expand_pending()
    assert claimable() == [("a", 0), ("b", 0)]


def test_only_the_same_tenants_unexpanded_events_hold_a_key(hook):
    theirs = Endpoint.objects.create(url="http://127.0.0.1:9/theirs", tenant="acme")
    send("a", 0, tenant="acme")
    (ours,) = send("a", 1)
    fanout.expand_event(ours.pk)
    assert claimable() == [("a", 1)]  # acme's event of the same key is not ours
    fanout.expand_pending()
    assert Delivery.objects.get(endpoint=theirs).event.payload == {"n": 0}


def test_equal_sequences_are_ordered_by_event_id(hook):
    """Two processes may take the same nanosecond: the event id breaks the tie."""
    send("a", 0, 1)
    fanout.expand_pending()
    Event.objects.update(sequence=7)
    Delivery.objects.update(sequence=7)
    head = min(Delivery.objects.all(), key=lambda item: item.event_id)
    assert claimable_ids() == [head.pk]


def test_unkeyed_deliveries_pay_one_comparison(hook):
    """The head test of a delivery without a key is ``d.ordering_key = ''`` alone: the
    subqueries sit behind it in an OR."""
    assert due.HEAD.startswith("(d.ordering_key = '' OR (NOT EXISTS")
    assert due.HEAD in due.DUE


# --- through real workers, to a receiver that checks each key's order ---------------------------


class OrderedReceiver:
    """A recording server whose events carry ``{"key": …, "n": …}``: checks per key that
    requests arrive with n = 0, 1, 2… each only after the previous was answered 2xx (or
    its retries ran out), and never two at once.

    ``fail(item)`` chooses 500s; ``delay`` is each answer's delay (a number, or a function
    of the item). ``gave_up`` holds the (key, n) the test expects to fail for good.
    """

    def __init__(
        self,
        server: RecordingServer,
        *,
        fail: Callable[[Received], bool] = lambda item: False,
        delay: float | Callable[[Received], float] = 0.0,
    ) -> None:
        self.server = server
        self.fail = fail
        self.delay = delay
        self.gave_up: set[tuple[str, int]] = set()
        self.lock = threading.Lock()
        server.respond = self.respond

    @staticmethod
    def key_of(item: Received) -> tuple[str, int]:
        data = json.loads(item.body)["data"]
        return data.get("key", ""), data["n"]

    def respond(self, item: Received) -> Reply:
        with self.lock:
            status = 500 if self.fail(item) else 200
        delay = self.delay(item) if callable(self.delay) else self.delay
        return Reply(status=status, delay=delay)

    def by_key(self, path: str | None = None) -> dict[str, list[Received]]:
        """The requests (to ``path``, or all) by ordering key, in the order they arrived."""
        found: dict[str, list[Received]] = defaultdict(list)
        for item in sorted(list(self.server.requests), key=lambda r: r.at):
            if path is None or item.path == path:
                found[self.key_of(item)[0]].append(item)
        return found

    def accepted(self, key: str, path: str | None = None) -> list[int]:
        """The n of the requests of ``key`` answered 2xx, in the order they arrived."""
        return [
            self.key_of(item)[1]
            for item in self.by_key(path).get(key, [])
            if item.status is not None and 200 <= item.status < 300
        ]

    def problems(self, path: str | None = None) -> list[str]:
        """Every broken promise of ordering seen by the receiver (at ``path``, or anywhere)."""
        found = []
        for key, items in self.by_key(path).items():
            if key == "":
                continue
            expected = 0
            previous: Received | None = None
            for item in items:
                n = self.key_of(item)[1]
                if previous is not None and (previous.ended is None or item.at < previous.ended):
                    found.append(f"{key}: {n} started before {self.key_of(previous)[1]} ended")
                if n == expected + 1 and previous is not None and self.done(previous):
                    expected = n
                elif n != expected:
                    found.append(f"{key}: got {n} while {expected} was not done")
                previous = item
        return found

    def done(self, item: Received) -> bool:
        """Taken by the receiver, or the one the test lets fail for good."""
        ok = item.status is not None and 200 <= item.status < 300
        return ok or self.key_of(item) in self.gave_up


def keyed_events(keys: dict[str, int], *, per_transaction: int = 1, unkeyed: int = 0) -> None:
    """Send ``count`` events per key, interleaved, ``per_transaction`` to a transaction."""
    calls = [
        (key, n) for n in range(max(keys.values(), default=0)) for key in keys if n < keys[key]
    ]
    calls += [(None, n) for n in range(unkeyed)]
    for first in range(0, len(calls), per_transaction):
        with transaction.atomic():
            for key, n in calls[first : first + per_transaction]:
                payload = {"n": n} if key is None else {"key": key, "n": n}
                send_event("order.paid", payload, ordering_key=key)


def all_succeeded(count: int) -> Callable[[], bool]:
    return lambda: Delivery.objects.filter(status="succeeded").count() == count


def test_keyed_events_arrive_in_commit_order_one_at_a_time(http_server, celery_worker, settings):
    """Within one transaction in the order of the calls, then transaction after transaction;
    with the worker's threads and room for many requests, keys still go one at a time while
    different keys go side by side."""
    settings.WEBHOOKS = {**settings.WEBHOOKS, "MAX_IN_FLIGHT_PER_ENDPOINT": 16}
    receiver = OrderedReceiver(http_server, delay=lambda item: random.uniform(0.02, 0.08))
    Endpoint.objects.create(url=http_server.url())
    keyed_events({"a": 8, "b": 8, "c": 8}, per_transaction=5, unkeyed=6)
    wait_until(all_succeeded(30), timeout=60)
    assert receiver.problems() == []
    assert {key: receiver.accepted(key) for key in "abc"} == {key: list(range(8)) for key in "abc"}
    assert http_server.max_in_flight >= 2  # the keys (and unkeyed events) went side by side


def test_a_failing_head_blocks_only_its_key(http_server, celery_worker, settings):
    """a/0 answers 500 until every other event was taken: those cannot wait for it."""
    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "RETRY_SCHEDULE": [0.2] * 30,
        "CIRCUIT_BREAKER_THRESHOLD": 1000,  # five 500s in a row would pause the endpoint
    }
    others = 10 + 5 + 5

    def fail(item: Received) -> bool:
        if OrderedReceiver.key_of(item) != ("a", 0):
            return False
        taken = [r for r in http_server.requests if r.status == 200]
        return len(taken) < others

    receiver = OrderedReceiver(http_server, fail=fail)
    Endpoint.objects.create(url=http_server.url())
    keyed_events({"a": 4, "b": 10, "c": 5}, unkeyed=5)
    wait_until(all_succeeded(24), timeout=60)
    assert receiver.problems() == []
    a0 = [r.status for r in http_server.requests if OrderedReceiver.key_of(r) == ("a", 0)]
    assert a0[0] == 500 and a0[-1] == 200
    assert receiver.accepted("a") == [0, 1, 2, 3]


def test_a_head_failed_for_good_releases_the_next(http_server, celery_worker, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_SCHEDULE": [0.1, 0.1]}
    receiver = OrderedReceiver(
        http_server, fail=lambda item: OrderedReceiver.key_of(item) == ("a", 0)
    )
    receiver.gave_up.add(("a", 0))
    Endpoint.objects.create(url=http_server.url())
    keyed_events({"a": 3})
    wait_until(all_succeeded(2), timeout=30)
    assert receiver.problems() == []
    assert delivery(0).status == "failed" and delivery(0).attempt_count == 3
    statuses = [(OrderedReceiver.key_of(r)[1], r.status) for r in http_server.requests]
    assert statuses == [(0, 500), (0, 500), (0, 500), (1, 200), (2, 200)]


# --- across worker processes and crashes (PostgreSQL + Redis) ----------------------------------

services = pytest.mark.skipif(not SERVICES, reason="needs PostgreSQL and Redis (the services)")


def settle(done: Callable[[], bool], timeout: float) -> None:
    """Sweep every half second until ``done()``, as a deployment's sweeper would."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the deliveries did not settle"
        call_command("webhooks_sweep")
        time.sleep(0.5)


@services
@pytest.mark.services
def test_order_holds_across_two_worker_processes_with_random_failures(
    http_server, worker_process, settings
):
    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "RETRY_SCHEDULE": [0.05] * 15,
        "MAX_IN_FLIGHT_PER_ENDPOINT": 16,
        "CIRCUIT_BREAKER_THRESHOLD": 1000,  # five 500s in a row would pause the endpoint
    }
    chance = random.Random(17)
    receiver = OrderedReceiver(
        http_server,
        fail=lambda item: chance.random() < 0.25,
        delay=lambda item: chance.uniform(0, 0.02),
    )
    second = Endpoint.objects.create(url=http_server.url("/second"))
    Endpoint.objects.create(url=http_server.url())
    worker_process()
    worker_process()
    keys = {key: 25 for key in ("a", "b", "c", "d")}
    keyed_events(keys, per_transaction=5, unkeyed=20)
    settle(all_succeeded(2 * 120), timeout=120)
    for path in ("/hook", "/second"):
        assert receiver.problems(path) == [], path
        assert {key: receiver.accepted(key, path) for key in keys} == {
            key: list(range(25)) for key in keys
        }
    assert second.deliveries.filter(status="succeeded").count() == 120
    assert any(r.status == 500 for r in http_server.requests)  # the failures did happen


@services
@pytest.mark.services
def test_order_holds_across_a_worker_killed_mid_send(http_server, worker_process, settings):
    """The head in flight when its worker dies is sent again once its lease runs out, before
    the next one of its key; other keys go on meanwhile."""
    settings.WEBHOOKS = {**settings.WEBHOOKS, "TIMEOUT": (1, 2), "LEASE_MARGIN": 1}
    arrived = threading.Event()

    def delay(item: Received) -> float:
        if OrderedReceiver.key_of(item) == ("a", 3) and not arrived.is_set():
            arrived.set()
            return 1.0  # long enough to kill its worker meanwhile, shorter than the lease
        return 0.0

    receiver = OrderedReceiver(http_server, delay=delay)
    Endpoint.objects.create(url=http_server.url())
    worker = worker_process()
    keyed_events({"a": 8, "b": 8})
    assert arrived.wait(timeout=30)
    worker.kill()
    worker_process()
    worker_process()
    settle(all_succeeded(16), timeout=60)
    assert receiver.problems() == []
    # a/3 twice: its worker died waiting for the answer (at least once), sent again after
    # its lease, before a/4.
    assert receiver.accepted("a") == [0, 1, 2, 3, 3, 4, 5, 6, 7]
    assert list(delivery(3).attempts.values_list("error_type", flat=True)) == [
        "lease_expired",
        "",
    ]
