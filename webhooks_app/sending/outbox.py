"""``send_event``: the event written in the caller's transaction (a transactional outbox).

If the caller's transaction rolls back, no row exists and nothing is sent;
once it commits, the event exists even if the broker is down, and a worker
(or, failing that, the sweep) fans it out to its endpoints and delivers it.
Only the event row is written here, so the caller's transaction costs the
same with one endpoint or ten thousand; a single wake-up is sent when the
transaction commits, however many events it holds.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from webhooks_app import conf, event_types
from webhooks_app.models import Event, OutboxEntry
from webhooks_app.sending import on_commit
from webhooks_app.tenancy import tenant_key
from webhooks_app.wakeups import wake_up


def send_event(
    event_type: str,
    payload: Any,
    *,
    tenant: Any = None,
    idempotency_key: str | None = None,
) -> Event:
    """Record an event for the matching active endpoints of ``tenant``; they get it after commit.

    ``tenant`` is a string key or a model instance (standing for its pk); None
    means the operator's own endpoints (tenant ``""``). Runs one query (an
    INSERT) without an ``idempotency_key``. With one this tenant already used,
    the existing event is returned and nothing new is created or sent. With
    ``WEBHOOKS["VALIDATE_PAYLOADS"]``, a payload that the type's registered
    schema refuses raises ``InvalidPayload`` first, before any query.
    """
    if conf.get("VALIDATE_PAYLOADS"):
        event_types.validate_payload(event_type, payload)
    tenant = tenant_key(tenant)
    if idempotency_key is not None:
        existing = Event.objects.filter(tenant=tenant, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    fields = {
        "event_type": event_type,
        "payload": payload,
        "tenant": tenant,
        "idempotency_key": idempotency_key,
        "created_at": timezone.now(),
    }
    if idempotency_key is None:
        event = _create(fields)
    else:
        try:
            with transaction.atomic():
                event = _create(fields)
        except IntegrityError:  # a concurrent caller used the same key first
            return Event.objects.get(tenant=tenant, idempotency_key=idempotency_key)
    _wake_up_on_commit()
    return event


def _create(fields: dict[str, Any]) -> Event:
    """The event and its outbox entry."""
    event = Event.objects.create(**fields)
    OutboxEntry.objects.create(
        event=event,
        tenant=event.tenant,
        ordering_key=event.ordering_key,
        sequence=event.sequence,
        created_at=event.created_at,
    )
    return event


def _wake_up_after_commit() -> None:
    wake_up()


def _wake_up_on_commit() -> None:
    """One wake-up per committed transaction (at once in autocommit mode).

    Django forgets a callback registered in a savepoint that rolls back, so
    "already registered" is read from its list rather than kept as a flag.
    """
    if not on_commit.registered(_wake_up_after_commit):
        transaction.on_commit(_wake_up_after_commit)
