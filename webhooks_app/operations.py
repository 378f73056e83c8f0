"""Operator actions shared by the admin, the REST API and the management commands.

Each takes model instances or querysets and returns what it did, so every
front end reports the same thing.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from webhooks_app.dispatch import enqueue_delivery
from webhooks_app.models import Delivery, Endpoint, Event

TEST_EVENT_TYPE = "webhooks.test"


def send_test_event(
    endpoint: Endpoint, payload: dict | None = None, *, enqueue: bool = True
) -> Delivery:
    """Record a ``webhooks.test`` event for this endpoint alone (and its tenant) and enqueue it.

    It is sent even when the endpoint's event-type filter would not match.
    A disabled endpoint's test delivery waits, like its other deliveries,
    until the endpoint is enabled again. With ``enqueue=False`` the caller
    delivers it (``webhooks_send_test`` does, to print the outcome).
    """
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(
            event_type=TEST_EVENT_TYPE,
            tenant=endpoint.tenant,
            payload=payload if payload is not None else {"message": "This is a test webhook."},
            created_at=now,
            fanned_out_at=now,  # its one delivery is written here, not by the fan-out
        )
        delivery = Delivery.objects.create(
            event=event, endpoint=endpoint, next_attempt_at=now, created_at=now
        )
        if enqueue:
            transaction.on_commit(lambda: enqueue_delivery(delivery.pk, manual=True))
    return delivery


def retry_deliveries(deliveries: QuerySet[Delivery]) -> int:
    """Make failed or pending deliveries due now and enqueue them as manual tries.

    Succeeded ones are left alone; returns how many were retried.
    """
    ids = list(deliveries.exclude(status=Delivery.Status.SUCCEEDED).values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=ids).update(
        status=Delivery.Status.PENDING, next_attempt_at=timezone.now(), finished_at=None
    )
    for delivery_id in ids:
        transaction.on_commit(lambda pk=delivery_id: enqueue_delivery(pk, manual=True))
    return len(ids)


def cancel_deliveries(deliveries: QuerySet[Delivery], reason: str = "Cancelled") -> int:
    """Stop pending deliveries: they become failed with ``reason``; returns how many."""
    return deliveries.filter(status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED,
        next_attempt_at=None,
        finished_at=timezone.now(),
        last_error=reason,
    )


def disable_endpoints(endpoints: QuerySet[Endpoint], reason: str) -> int:
    """Disable active endpoints with a reason, sending ``endpoint_disabled`` for each."""
    return sum(endpoint.disable(reason) for endpoint in endpoints.filter(is_active=True))


def enable_endpoints(endpoints: QuerySet[Endpoint]) -> int:
    """Re-enable endpoints; their pending deliveries go out on the next sweep."""
    changed = 0
    for endpoint in endpoints.filter(is_active=False):
        endpoint.enable()
        changed += 1
    return changed


def rotate_secrets(endpoints: QuerySet[Endpoint]) -> int:
    """Rotate each endpoint's secret; the previous one signs during the grace period."""
    count = 0
    for endpoint in endpoints:
        endpoint.rotate_secret()
        count += 1
    return count
