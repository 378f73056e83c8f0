"""Operator actions shared by the admin, the REST API and the management commands.

Each takes model instances or querysets and returns what it did, so every
front end reports the same thing.
"""

from __future__ import annotations

import functools

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from webhooks_app import conf, event_types
from webhooks_app.models import Delivery, Endpoint, Event
from webhooks_app.wakeups import enqueue_delivery

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
    if payload is None:
        payload = {"message": "This is a test webhook."}
    return _send_to_one(endpoint, TEST_EVENT_TYPE, payload, enqueue=enqueue)


def example_types(endpoint: Endpoint) -> list[event_types.EventType]:
    """The registered types with an example that ``endpoint`` subscribes to: what
    :func:`send_example` offers (in the admin and the portal)."""
    return [
        event_type
        for event_type in event_types.all()
        if event_type.example is not None and endpoint.accepts(event_type.name)
    ]


def send_example(endpoint: Endpoint, event_type_name: str) -> Event:
    """Record an event of a registered type, with its example as the payload, for this
    endpoint alone and enqueue it, as :func:`send_test_event` does.

    Raises ``LookupError`` when the type is not registered or has no example.
    """
    event_type = event_types.get(event_type_name)
    if event_type is None or event_type.example is None:
        raise LookupError(f"No registered event type {event_type_name!r} with an example.")
    return _send_to_one(endpoint, event_type.name, event_type.example).event


def _send_to_one(endpoint: Endpoint, event_type: str, payload, *, enqueue: bool = True) -> Delivery:
    """An event already fanned out to ``endpoint`` alone, its delivery due now."""
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(
            event_type=event_type,
            tenant=endpoint.tenant,
            payload=payload,
            created_at=now,
        )  # no outbox entry: its one delivery is written here, not by the fan-out
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
        transaction.on_commit(functools.partial(enqueue_delivery, delivery_id, manual=True))
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


def endpoint_limit_reached(tenant: str) -> bool:
    """Whether ``tenant`` already has ``WEBHOOKS["MAX_ENDPOINTS_PER_TENANT"]`` endpoints."""
    limit = conf.get("MAX_ENDPOINTS_PER_TENANT")
    return limit is not None and Endpoint.objects.filter(tenant=tenant).count() >= limit
