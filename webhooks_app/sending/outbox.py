"""``send_event``: the event written in the caller's transaction (a transactional outbox).

If the caller's transaction rolls back, no row exists and nothing is sent;
once it commits, the event exists even if the broker is down, and a worker
(or, failing that, the sweep) fans it out to its endpoints and delivers it.
Only the event and its outbox entry are written here (one statement on
PostgreSQL, :mod:`webhooks_app.sending.outbox_sql`), so the caller's
transaction costs the same with one endpoint or ten thousand; a single
wake-up is sent when the transaction commits, however many events it holds.
"""

from __future__ import annotations

from typing import Any

from django.db import router, transaction
from django.utils import timezone

from webhooks_app import conf, event_types
from webhooks_app.ids import next_sequence
from webhooks_app.models import Event
from webhooks_app.sending import on_commit, ordering, outbox_sql
from webhooks_app.tenancy import tenant_key
from webhooks_app.wakeups import wake_up


def send_event(
    event_type: str,
    payload: Any,
    *,
    tenant: Any = None,
    idempotency_key: str | None = None,
    ordering_key: str | None = None,
) -> Event:
    """Record an event for the matching active endpoints of ``tenant``; they get it after commit.

    ``tenant`` is a string key or a model instance (standing for its pk); None
    means the operator's own endpoints (tenant ``""``). With an
    ``ordering_key`` (a string of 1 to 255 characters), each endpoint gets the
    events of that tenant and key one at a time, in the order of the calls
    (:mod:`webhooks_app.sending.ordering`). On PostgreSQL this is one statement
    (the event and its outbox entry); with an ``idempotency_key`` this tenant
    already used, the existing event is returned (a second statement) and
    nothing new is created or sent. With ``WEBHOOKS["VALIDATE_PAYLOADS"]``, a
    payload that the type's registered schema refuses raises ``InvalidPayload``
    first, before any query.
    """
    if conf.get("VALIDATE_PAYLOADS"):
        event_types.validate_payload(event_type, payload)
    key = ordering.ordering_key(ordering_key)
    event = Event(
        event_type=event_type,
        payload=payload,
        tenant=tenant_key(tenant),
        idempotency_key=idempotency_key,
        created_at=timezone.now(),
        ordering_key=key,
        sequence=next_sequence(),
    )
    using = router.db_for_write(Event)
    if not outbox_sql.insert(event, using):  # the idempotency key was used already
        return Event.objects.using(using).get(tenant=event.tenant, idempotency_key=idempotency_key)
    _wake_up_on_commit()
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
