"""Exactly-once processing of inbound events.

Two steps, each safe to repeat:

1. :func:`record` does an atomic get-or-create on (source, event_id) through the
   unique constraint; a copy that loses the race counts as a duplicate. It is
   one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``
   (:mod:`~webhooks_app.receivers.inbound_sql`), for a new event and a copy alike.
2. :func:`process` locks that row in a transaction, runs the handler only if
   the event is not processed yet, and marks it processed in the same
   transaction. The handler runs in that transaction itself, no savepoint
   around it (two round trips fewer): when it raises, the whole transaction
   rolls back, its writes with it, and the failure is written after, by one
   statement (:func:`inbound_sql.fail`, :func:`inbound_sql.upsert_failure`).

The receiving view's synchronous path calls :func:`receive`, which does both
in one transaction: the upsert's row lock is the lock the handler runs under.
PostgreSQL and SQLite 3.35+ are the databases the app runs on (system check
``webhooks_app.E005``); it has no ORM fallback for others.

On PostgreSQL the row lock serialises concurrent copies; on SQLite the
database-wide write lock does. Either way the lock is taken by a write before
the status is read. ``"transaction_mode": "IMMEDIATE"`` is still recommended on
SQLite (system check ``webhooks_app.W002``) for the other writers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from webhooks_app import conf, redaction, signals
from webhooks_app.models import InboundEvent
from webhooks_app.observability import logs
from webhooks_app.receivers import inbound_sql
from webhooks_app.receivers.copy_rate import CopyRates
from webhooks_app.wakeups import enqueue_inbound

logger = logging.getLogger(__name__)

Status = InboundEvent.Status
copy_rates = CopyRates()  # this process's: which way the next request of a source takes
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
    """Store a verified event once; return ``(event, created)``.

    A copy of a stored event adds one to its ``duplicate_count``.
    """
    values = _row(source, event_id, event_type, payload, headers, receiver)
    try:
        # One statement is atomic by itself; inside the caller's transaction a savepoint
        # keeps a refused value from breaking it.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            return _upsert(values)
    except (DataError, UnicodeEncodeError, RecursionError) as exc:
        raise UnstorablePayload(str(exc)) from exc
    except IntegrityError as exc:  # not the (source, event_id) conflict: a bad value
        raise UnstorablePayload(str(exc)) from exc


def _row(
    source: str,
    event_id: str,
    event_type: str,
    payload: Any,
    headers: Mapping[str, str],
    receiver: str,
) -> dict[str, Any]:
    """The columns an inbound event is stored with."""
    return {
        "source": source,
        "event_id": event_id,
        "event_type": event_type,
        "payload": payload,
        "headers": headers,
        "receiver": receiver,
    }


def _upsert(values: dict[str, Any]) -> tuple[InboundEvent, bool]:
    """:func:`inbound_sql.upsert` of a new row."""
    return inbound_sql.upsert(_new_row(values))


def _new_row(values: dict[str, Any]) -> dict[str, Any]:
    """Every column of a new row but the key: ``values``, kept headers and defaults."""
    row = {}
    for field in InboundEvent._meta.concrete_fields:
        if not field.primary_key:
            row[field.name] = values[field.name] if field.name in values else field.get_default()
    row["headers"] = _kept_headers(values["headers"])
    return row


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return redaction.kept_headers(headers, conf.get("INBOUND_HEADERS"))


def process(event_pk: int, handler: Handler) -> Result:
    """Run ``handler`` for the event unless it is processed already."""
    return _reported(_process(event_pk, handler))


def _reported(result: Result) -> Result:
    """``result``, its log line and metrics on their way (once committed)."""
    logs.inbound(result.event.source, result.outcome, result.event, result.exception)
    return result


def _process(event_pk: int, handler: Handler) -> Result:
    with transaction.atomic():
        # Write before reading: the UPDATE takes the row lock on PostgreSQL and the write
        # lock on SQLite, so no two copies can both read "not processed yet" (and SQLite
        # never has to upgrade a read lock, which fails at once).
        event = inbound_sql.claim(event_pk)
        if event is None:
            return Result("duplicate", InboundEvent.objects.get(pk=event_pk))
        failure = _run(event, handler)
    if failure is not None:  # rolled back, the claim with it: the failure is written now
        event = inbound_sql.fail(event_pk, _error_text(failure)) or _failed(event, failure)
    return _outcome(event, failure)


def receive(
    source: str,
    event_id: str,
    *,
    event_type: str,
    payload: Any,
    headers: Mapping[str, str],
    receiver: str = "",
    handler: Handler,
) -> Result:
    """:func:`record` and :func:`process` a verified event, in one transaction.

    The upsert that records the event also locks its row (a new row until the
    transaction ends, an existing one through its update), so the handler runs
    in the same transaction, with one commit for the event, the handler's
    writes and the outcome; a copy of a processed event commits its count
    without waiting for the disk (PostgreSQL). When copies of processed events
    have been frequent for the source (:data:`copy_rates`), a request is first
    checked for being one, by one statement outside any transaction. Raises
    :class:`UnstorablePayload` as :func:`record` does.
    """
    values = _row(source, event_id, event_type, payload, headers, receiver)
    return _reported(_receive(values, handler))


def _receive(values: dict[str, Any], handler: Handler) -> Result:
    source, event_id = values["source"], values["event_id"]
    try:
        # In a transaction already, the upsert below counts a copy as cheaply.
        if not connection.in_atomic_block and copy_rates.check_first(source):
            copy = inbound_sql.count_processed_copy(source, event_id)
            if copy is not None:
                copy_rates.observe(source, copy=True)
                return Result("duplicate", copy)
        row = _new_row(values)
        with transaction.atomic():
            event, _created = inbound_sql.upsert(row)
            copy_rates.observe(source, copy=event.status == Status.PROCESSED)
            if event.status == Status.PROCESSED:
                return Result("duplicate", event)
            event.processing_attempts += 1
            failure = _run(event, handler)
        if failure is not None:  # rolled back, the row too if it was new: write it again
            failed = {"status": Status.FAILED, "error": _error_text(failure)}
            event = inbound_sql.upsert_failure({**row, **failed, "processing_attempts": 1})
    except (DataError, UnicodeEncodeError, RecursionError, IntegrityError) as exc:
        raise UnstorablePayload(str(exc)) from exc
    return _outcome(event, failure)


def _run(event: InboundEvent, handler: Handler) -> BaseException | None:
    """Run the handler in the caller's transaction and mark the event processed in it.

    The caller holds the event's row lock, has counted this attempt and runs
    this inside ``transaction.atomic()``. When the handler raises, or leaves
    the transaction unusable (a database error it caught), the block is set to
    roll back, and the exception is returned for the caller to record once it
    has.
    """
    try:
        handler(event)
        event.status = Status.PROCESSED
        event.error = ""
        event.processed_at = timezone.now()
        inbound_sql.finish(event)
    except Exception as exc:
        logger.exception("Handler for %s:%s failed", event.source, event.event_id)
        transaction.set_rollback(True)
        return exc
    return None


def _error_text(failure: BaseException) -> str:
    return storable_text(f"{type(failure).__name__}: {failure}"[:10_000])


def _failed(event: InboundEvent, failure: BaseException) -> InboundEvent:
    """The event as the failure left it, when its row is gone (deleted meanwhile)."""
    event.status, event.error, event.processed_at = Status.FAILED, _error_text(failure), None
    return event


def _outcome(event: InboundEvent, failure: BaseException | None) -> Result:
    """The signals, sent once the transaction has committed, and the result."""
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
    ids = list(stale_pending(older_than).values_list("pk", flat=True)[:limit])
    return sum(enqueue_inbound(event_pk) for event_pk in ids)
