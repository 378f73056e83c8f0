"""Delete old outbound history a batch at a time, while workers keep sending.

What may go: events older than the cutoff that are fanned out and whose
deliveries are all finished (succeeded or failed), with those deliveries and
their attempts. An event with a delivery still pending stays, whatever its age.

Batches are chosen oldest first, walking the events' ``created_at`` index from
where the previous batch ended (a cursor on ``(created_at, id)``), so no batch
reads again what an earlier one skipped or deleted: the time per batch does not
grow as the prune goes on. Each batch is one short transaction: it locks the
batch's deliveries (so a delivery sent again by an operator meanwhile keeps its
event), then deletes attempts, deliveries and events with one statement each,
by key. Rows are deleted in SQL, not loaded first: no delete signals are sent
for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q, QuerySet

from webhooks_app.db import rows
from webhooks_app.db.locks import take_write_lock
from webhooks_app.models import Attempt, Delivery, Event
from webhooks_app.sending.due import in_list, in_list_params

PENDING = Delivery.Status.PENDING


def prunable(cutoff: datetime) -> QuerySet[Event]:
    """The events that may be deleted: older than ``cutoff``, fanned out, all finished."""
    return Event.objects.filter(created_at__lt=cutoff, outbox_entry__isnull=True).exclude(
        deliveries__status=PENDING
    )


def batches(cutoff: datetime, size: int) -> Iterator[list[str]]:
    """The ids of :func:`prunable` events, oldest first, ``size`` at a time.

    Each batch is read when the previous one has been dealt with, starting
    after its last event.
    """
    after: tuple[datetime, str] | None = None
    while True:
        events = prunable(cutoff)
        if after is not None:
            at, pk = after
            # created_at >= at as well: a condition the index can start from.
            events = events.filter(
                Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk), created_at__gte=at
            )
        page = list(events.order_by("created_at", "pk").values_list("created_at", "pk")[:size])
        if not page:
            return
        yield [pk for _, pk in page]
        after = page[-1]


def delete_events(ids: list[str]) -> int:
    """Delete these events with their deliveries and attempts, in one transaction; returns
    how many events went (those with a delivery pending again by now stay)."""
    with transaction.atomic():
        take_write_lock()
        statuses = (
            Delivery.objects.select_for_update()
            .filter(event_id__in=ids)
            .values_list("event_id", "status")
        )
        kept = {event_id for event_id, status in statuses if status == PENDING}
        going = [pk for pk in ids if pk not in kept]
        if not going:
            return 0
        events = in_list("event", going)
        params = in_list_params("event", going)
        delivery = rows.table(Delivery)
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {rows.table(Attempt)} WHERE delivery_id IN"  # noqa: S608
                f" (SELECT id FROM {delivery} WHERE event_id IN ({events}))",
                params,
            )
            cursor.execute(
                f"DELETE FROM {delivery} WHERE event_id IN ({events})",  # noqa: S608
                params,
            )
            cursor.execute(
                f"DELETE FROM {rows.table(Event)} WHERE id IN ({events})",  # noqa: S608
                params,
            )
            return cursor.rowcount
