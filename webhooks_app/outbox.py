"""``send_event``: events and deliveries written in the caller's transaction.

This is a transactional outbox. If the caller's transaction rolls back, no
row exists and nothing is sent; once it commits, the deliveries exist in the
database even if the broker is down, and the sweep will get them out.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from webhooks_app.dispatch import enqueue_deliveries
from webhooks_app.models import Delivery, Endpoint, Event, event_type_matches


def send_event(event_type: str, payload: Any, *, idempotency_key: str | None = None) -> Event:
    """Record an event and one delivery per matching active endpoint.

    Runs a constant number of queries however many endpoints there are. With an
    ``idempotency_key`` already used, the existing event is returned and
    nothing new is created or sent. Deliveries are enqueued when the
    surrounding transaction commits (at once in autocommit mode).
    """
    if idempotency_key is not None:
        existing = Event.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    now = timezone.now()
    try:
        with transaction.atomic():
            event = Event.objects.create(
                event_type=event_type,
                payload=payload,
                idempotency_key=idempotency_key,
                created_at=now,
            )
            targets = [
                endpoint_id
                for endpoint_id, patterns in Endpoint.objects.filter(is_active=True).values_list(
                    "id", "event_types"
                )
                if event_type_matches(patterns, event_type)
            ]
            deliveries = Delivery.objects.bulk_create(
                Delivery(event=event, endpoint_id=endpoint_id, next_attempt_at=now, created_at=now)
                for endpoint_id in targets
            )
    except IntegrityError:
        # A concurrent caller used the same idempotency key first.
        if idempotency_key is None:
            raise
        return Event.objects.get(idempotency_key=idempotency_key)

    delivery_ids = [delivery.pk for delivery in deliveries]
    if None in delivery_ids:  # a database that cannot return ids from a bulk insert
        delivery_ids = list(Delivery.objects.filter(event=event).values_list("pk", flat=True))
    if delivery_ids:
        transaction.on_commit(lambda: enqueue_deliveries(delivery_ids))
    return event
