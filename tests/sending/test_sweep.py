"""The sweep: wakes workers for what is claimable now, and for nothing else.

Above all it never re-enqueues a delivery under a live lease, even one whose
next try has come due meanwhile: a worker is sending it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from webhooks_app.models import Delivery, Endpoint, Event, OutboxEntry
from webhooks_app.sending import sweep as sweep_module
from webhooks_app.sending.sweep import MAX_SWEEP_WAKE_UPS, sweep

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = 10
NOW = timezone.now()
SECOND = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def wake_ups(monkeypatch) -> list[None]:
    """The wake-ups the sweep sends, caught instead of put on the broker."""
    sent: list[None] = []
    monkeypatch.setattr(sweep_module, "wake_up", lambda **kwargs: sent.append(None) or True)
    with override_settings(
        WEBHOOKS={"ALLOWED_NETWORKS": ["127.0.0.0/8"], "RETRY_SCHEDULE": [60], "BATCH_SIZE": BATCH}
    ):
        yield sent


def deliveries(count: int = 1, *, endpoint: Endpoint | None = None, **fields) -> list[Delivery]:
    """``count`` pending deliveries (due at NOW unless ``fields`` say otherwise)."""
    endpoint = endpoint or Endpoint.objects.create(url="http://127.0.0.1:9/hook")
    events = Event.objects.bulk_create(
        Event(event_type="order.paid", payload={"n": n}) for n in range(count)
    )
    fields = {"next_attempt_at": NOW, **fields}
    return Delivery.objects.bulk_create(
        Delivery(event=event, endpoint=endpoint, **fields) for event in events
    )


def test_a_live_lease_made_due_is_not_swept(wake_ups):
    deliveries(next_attempt_at=NOW - SECOND, locked_until=NOW + SECOND, attempt_count=1)

    assert sweep(NOW) == 0
    assert wake_ups == []


@pytest.mark.parametrize(
    "lease", [None, NOW - SECOND, NOW], ids=["never leased", "lease ran out", "lease ends now"]
)
def test_a_due_delivery_without_a_live_lease_is_swept(wake_ups, lease):
    deliveries(locked_until=lease)

    assert sweep(NOW) == 1
    assert len(wake_ups) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"next_attempt_at": NOW + SECOND},
        {"status": Delivery.Status.SUCCEEDED},
        {"status": Delivery.Status.FAILED},
    ],
    ids=["not due yet", "succeeded", "failed"],
)
def test_nothing_else_is_swept(wake_ups, fields):
    deliveries(**fields)

    assert sweep(NOW) == 0
    assert wake_ups == []


@pytest.mark.parametrize(
    ("endpoint_fields", "swept"),
    [
        ({"is_active": False}, 0),
        ({"paused_until": NOW + SECOND}, 0),
        ({"paused_until": NOW}, 1),
    ],
    ids=["inactive", "paused", "pause ends now"],
)
def test_the_endpoint_decides_too(wake_ups, endpoint_fields, swept):
    endpoint = Endpoint.objects.create(url="http://127.0.0.1:9/hook", **endpoint_fields)
    deliveries(endpoint=endpoint)

    assert sweep(NOW) == swept
    assert len(wake_ups) == swept


def test_one_wake_up_per_batch_of_claimable_deliveries(wake_ups):
    deliveries(2 * BATCH + 1)

    assert sweep(NOW) == 2 * BATCH + 1
    assert len(wake_ups) == 3


def test_one_sweep_sends_a_bounded_number_of_wake_ups(wake_ups):
    with override_settings(WEBHOOKS={"ALLOWED_NETWORKS": ["127.0.0.0/8"], "BATCH_SIZE": 1}):
        deliveries(MAX_SWEEP_WAKE_UPS + 3)

        assert sweep(NOW) == MAX_SWEEP_WAKE_UPS
    assert len(wake_ups) == MAX_SWEEP_WAKE_UPS


def test_the_sweep_fans_out_events_left_unexpanded(wake_ups):
    Endpoint.objects.create(url="http://127.0.0.1:9/hook")
    event = Event.objects.create(event_type="order.paid", payload={})  # its fan-out was lost
    OutboxEntry.objects.create(event=event)

    assert sweep(timezone.now() + SECOND) == 1
    assert Delivery.objects.get().event == event
    assert len(wake_ups) == 1
