"""Exactly-once processing of inbound events.

Two steps, each safe to repeat:

1. :func:`record` does an atomic get-or-create on (source, event_id) through the
   unique constraint; a copy that loses the race counts as a duplicate.
2. :func:`process` locks that row in a transaction, runs the handler only if
   the event is not processed yet, and marks it processed in the same
   transaction. The handler runs in a savepoint, so its writes roll back when
   it raises, while the failure itself is still recorded.

On PostgreSQL the row lock serialises concurrent copies; on SQLite the
database-wide write lock does. Either way the lock is taken by a write before
the status is read. ``"transaction_mode": "IMMEDIATE"`` is still recommended on
SQLite (system check ``webhooks_app.W002``) for the other writers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from webhooks_app import conf, redaction, signals
from webhooks_app.models import InboundEvent

logger = logging.getLogger(__name__)

Status = InboundEvent.Status
Handler = Callable[[InboundEvent], Any]


class UnstorablePayload(ValueError):
    """A verified payload the database refuses: a NUL character on PostgreSQL, a lone
    surrogate (which UTF-8 cannot encode), nesting too deep to serialise."""


@dataclass(frozen=True)
class Result:
    """How one processing call ended: ``processed``, ``duplicate`` or ``failed``."""

    outcome: str
    event: InboundEvent
    exception: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"


def record(
    source: str,
    event_id: str,
    *,
    event_type: str,
    payload: Any,
    headers: Mapping[str, str],
    receiver: str = "",
) -> tuple[InboundEvent, bool]:
    """Store a verified event once; return ``(event, created)``."""
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                source=source,
                event_id=event_id,
                event_type=event_type,
                payload=payload,
                headers=redaction.kept_headers(headers, conf.get("INBOUND_HEADERS")),
                receiver=receiver,
            )
        return event, True
    except (DataError, UnicodeEncodeError, RecursionError) as exc:
        raise UnstorablePayload(str(exc)) from exc
    except IntegrityError as exc:
        existing = InboundEvent.objects.filter(source=source, event_id=event_id)
        if not existing.update(duplicate_count=F("duplicate_count") + 1):
            raise UnstorablePayload(str(exc)) from exc  # not a duplicate: a bad value
        return existing.get(), False


def process(event_pk: int, handler: Handler) -> Result:
    """Run ``handler`` for the event unless it is processed already."""
    with transaction.atomic():
        # Write before reading: the UPDATE takes the row lock on PostgreSQL and the
        # write lock on SQLite, so no two copies can both read "not processed yet"
        # (and SQLite never has to upgrade a read lock, which fails at once).
        claimed = (
            InboundEvent.objects.filter(pk=event_pk)
            .exclude(status=Status.PROCESSED)
            .update(processing_attempts=F("processing_attempts") + 1)
        )
        event = InboundEvent.objects.select_for_update().get(pk=event_pk)
        if not claimed or event.status == Status.PROCESSED:
            return Result("duplicate", event)
        try:
            with transaction.atomic():
                handler(event)
        except Exception as exc:
            logger.exception("Handler for %s:%s failed", event.source, event.event_id)
            event.status = Status.FAILED
            event.error = storable_text(f"{type(exc).__name__}: {exc}"[:10_000])
            event.save(update_fields=["status", "error", "processing_attempts"])
            failure = exc
        else:
            failure = None
            event.status = Status.PROCESSED
            event.error = ""
            event.processed_at = timezone.now()
            event.save(update_fields=["status", "error", "processing_attempts", "processed_at"])
    if failure is not None:
        signals.inbound_failed.send(sender=InboundEvent, event=event, exception=failure)
        return Result("failed", event, failure)
    signals.inbound_processed.send(sender=InboundEvent, event=event)
    return Result("processed", event)


def storable_text(text: str) -> str:
    """Text any database column takes: no NUL, no lone surrogate (from a handler's error)."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def handler_for(event: InboundEvent) -> Handler:
    """The ``handle`` method of the receiver view that recorded the event."""
    if not event.receiver:
        raise LookupError(f"Inbound event {event.pk} has no receiver recorded")
    view_class = import_string(event.receiver)
    return view_class().handle


def reprocess(events: QuerySet[InboundEvent]) -> dict[str, int]:
    """Process events again with their receivers' handlers; processed ones are skipped.

    Used by the admin action and ``manage.py webhooks_reprocess``. Returns a count
    per outcome.
    """
    counts = {"processed": 0, "duplicate": 0, "failed": 0}
    for event in events.exclude(status=Status.PROCESSED).iterator():
        try:
            handler = handler_for(event)
        except (ImportError, LookupError) as exc:
            InboundEvent.objects.filter(pk=event.pk).update(
                status=Status.FAILED, error=f"{type(exc).__name__}: {exc}"
            )
            counts["failed"] += 1
            continue
        counts[process(event.pk, handler).outcome] += 1
    return counts


def stale_pending(older_than: float = 60) -> QuerySet[InboundEvent]:
    """Pending events received a while ago: a lost task message or a crashed request."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    return InboundEvent.objects.filter(status=Status.PENDING, received_at__lt=cutoff).exclude(
        receiver=""
    )


def sweep_pending(older_than: float = 60, limit: int = 1000) -> int:
    """Enqueue processing of stale pending events; returns how many were enqueued."""
    from webhooks_app.dispatch import enqueue_inbound

    ids = list(stale_pending(older_than).values_list("pk", flat=True)[:limit])
    return sum(enqueue_inbound(event_pk) for event_pk in ids)
