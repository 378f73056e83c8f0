"""One definition of "due" and "claimable" (webhooks_app.sending.due), read the same way by
the claim, the sweep, a run's hand-over and the lag gauge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from webhooks_app.models import Delivery, Endpoint, Event
from webhooks_app.sending import claims, due
from webhooks_app.sending.sweep import sweep

pytestmark = pytest.mark.django_db(transaction=True)

CAP = {"MAX_IN_FLIGHT_PER_ENDPOINT": 2, "ALLOWED_NETWORKS": ["127.0.0.0/8"]}


@pytest.fixture(autouse=True)
def _no_wake_ups(no_wakeups):
    """The sweeps here wake no worker: their wake-ups stay on the broker."""


def deliveries(endpoint: Endpoint, count: int, *, at=None, leased_until=None) -> list[Delivery]:
    at = at or timezone.now() - timedelta(seconds=5)
    made = []
    for _ in range(count):
        event = Event.objects.create(event_type="order.paid", payload={})
        made.append(
            Delivery.objects.create(
                event=event, endpoint=endpoint, next_attempt_at=at, locked_until=leased_until
            )
        )
    return made


def endpoint(path: str = "/a", **fields) -> Endpoint:
    return Endpoint.objects.create(url=f"http://127.0.0.1:9/{path.strip('/')}", **fields)


@override_settings(WEBHOOKS=CAP)
def test_an_endpoint_at_its_cap_has_due_deliveries_but_none_claimable():
    full = endpoint("/full")
    deliveries(full, 2, leased_until=timezone.now() + timedelta(seconds=30))  # in flight
    waiting = deliveries(full, 3)
    assert not due.any_claimable()
    assert due.count_claimable(limit=100) == 0
    # Late all the same: the lag gauge counts them.
    assert due.oldest_due_at() == min(item.next_attempt_at for item in waiting)
    # The sweep wakes no worker for them, and a claim takes none.
    assert sweep() == 0
    assert claims.claim(50) == []


@override_settings(WEBHOOKS=CAP)
def test_the_sweep_counts_the_deliveries_of_endpoints_with_room():
    busy, idle = endpoint("/busy"), endpoint("/idle")
    deliveries(busy, 1, leased_until=timezone.now() + timedelta(seconds=30))
    deliveries(busy, 4)
    deliveries(idle, 5)
    assert sweep() == 9
    taken = claims.claim(50)
    # One slot was left at the busy endpoint, two at the idle one ...
    assert sorted(item.endpoint_id for item in taken) == [busy.pk, idle.pk, idle.pk]
    # ... and now both are full: what is left is due, and not claimable.
    assert sweep() == 0
    assert due.oldest_due_at() is not None


@override_settings(WEBHOOKS=CAP)
def test_an_open_circuit_has_room_for_one_probe():
    tripped = endpoint("/tripped", circuit_opened_at=timezone.now() - timedelta(minutes=1))
    deliveries(tripped, 3)
    assert due.count_claimable(limit=100) == 3  # candidates: the claim lets one through
    assert len(claims.claim(50)) == 1  # one probe
    assert due.count_claimable(limit=100) == 0  # a probe is in flight
    assert due.oldest_due_at() is not None


def test_a_paused_endpoint_is_not_due_until_its_pause_ends():
    now = timezone.now()
    paused = endpoint("/paused", paused_until=now + timedelta(seconds=10))
    deliveries(paused, 1, at=now - timedelta(seconds=1))
    assert not due.any_claimable(now)
    assert due.oldest_due_at(now) is None
    assert due.seconds_until_next(now) == pytest.approx(10, abs=0.01)


def test_a_retry_due_after_a_pause_ends_is_waited_for():
    """Its time comes after the pause: it was counted neither as a retry (its endpoint is
    paused now) nor as a pause ending (it is not due then) before the definitions were one."""
    now = timezone.now()
    paused = endpoint("/paused", paused_until=now + timedelta(seconds=10))
    deliveries(paused, 1, at=now + timedelta(seconds=20))
    assert due.seconds_until_next(now) == pytest.approx(20, abs=0.01)


def test_seconds_until_next_ignores_what_is_in_flight_and_is_0_for_what_is_claimable():
    now = timezone.now()
    target = endpoint("/a")
    deliveries(target, 1, at=now + timedelta(seconds=3), leased_until=now + timedelta(seconds=30))
    assert due.seconds_until_next(now) is None
    deliveries(target, 1, at=now + timedelta(seconds=7))
    assert due.seconds_until_next(now) == pytest.approx(7, abs=0.01)
    # Fallen due since a run's claim found nothing: claim again, do not end the run.
    deliveries(target, 1, at=now - timedelta(seconds=1))
    assert due.seconds_until_next(now) == 0


def test_seconds_until_next_takes_the_earliest_of_retries_and_pauses_ending():
    """A retry at a paused endpoint waits for the pause, so an earlier retry there is not
    the next thing due; a later one at an endpoint with no pause may be."""
    now = timezone.now()
    paused = endpoint("/paused", paused_until=now + timedelta(seconds=100))
    deliveries(paused, 1, at=now + timedelta(seconds=5))
    assert due.seconds_until_next(now) == pytest.approx(100, abs=0.01)
    deliveries(endpoint("/free"), 1, at=now + timedelta(seconds=7))
    assert due.seconds_until_next(now) == pytest.approx(7, abs=0.01)
    deliveries(paused, 1, at=now + timedelta(seconds=150))
    Endpoint.objects.filter(pk=paused.pk).update(paused_until=now + timedelta(seconds=3))
    assert due.seconds_until_next(now) == pytest.approx(5, abs=0.01)


@override_settings(WEBHOOKS=CAP)
def test_an_endpoint_at_its_cap_is_not_waited_for():
    """Its due deliveries are the business of the worker keeping it busy."""
    now = timezone.now()
    full = endpoint("/full")
    deliveries(full, 2, leased_until=now + timedelta(seconds=30))
    deliveries(full, 1, at=now - timedelta(seconds=1))
    assert due.seconds_until_next(now) is None


@pytest.mark.parametrize(("rate_limit", "room"), [(5, 1), (10, 1), (11, 2), (0, 2)])
@override_settings(WEBHOOKS=CAP)
def test_a_rate_limit_leaves_room_for_a_tenth_of_a_second(rate_limit, room):
    """What a claim may take at a rate-limited endpoint is what counts as claimable."""
    limited = endpoint("/limited")
    Endpoint.objects.filter(pk=limited.pk).update(rate_limit=rate_limit)  # 0: past validation
    deliveries(limited, 1, leased_until=timezone.now() + timedelta(seconds=30))
    deliveries(limited, 3)
    expected = 3 if room > 1 else 0
    assert due.count_claimable(limit=100) == expected
    assert len(claims.claim(50)) == room - 1


def test_inactive_endpoints_are_never_due():
    gone = endpoint("/gone", is_active=False)
    deliveries(gone, 2)
    deliveries(gone, 1, at=timezone.now() + timedelta(seconds=5))
    assert not due.any_claimable()
    assert due.oldest_due_at() is None
    assert due.seconds_until_next() is None
