"""Fan-out: write each new event's deliveries, one per matching active endpoint.

``send_event`` writes only the event (the outbox row), so its cost in the
caller's transaction does not grow with the number of endpoints. A worker
expands the event right after commit, and the sweep expands any event left
unexpanded (a lost wake-up, a crash between commit and fan-out). Expanding
is idempotent: deliveries are unique per (event, endpoint), and events being
expanded by another worker are skipped, not waited for. An event goes only to
the endpoints of its own tenant.

An endpoint whose stored event-type filter cannot be used (a row written past
validation, by ``.update()`` say) never stops a fan-out: it is skipped, logged and
disabled with the reason, and the event goes to every other endpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from webhooks_app import validators
from webhooks_app.db.locks import take_write_lock
from webhooks_app.event_patterns import event_type_matches
from webhooks_app.models import Delivery, Endpoint, Event, OutboxEntry
from webhooks_app.sending import alerts

logger = logging.getLogger(__name__)

ROWS_PER_TRANSACTION = 10_000
"""Deliveries written per transaction at most (events x endpoints)."""

EVENTS_PER_TRANSACTION = 500


@dataclass
class FirstTries:
    """Deliveries a fan-out may write already leased for their first try.

    For a run that owns endpoints with room in their queues: up to ``room[endpoint]``
    new deliveries of unkeyed events are written leased until ``until`` with attempt
    number 1 reserved, saving the claim's rewrite of each row; they are collected in
    ``leased`` with their events loaded. Deliveries of keyed events are left to the
    claim, which knows the head of each key.
    """

    room: dict[int, int]
    until: datetime
    leased: list[Delivery] = field(default_factory=list)

    def take(self, endpoint_id: int) -> bool:
        if self.room.get(endpoint_id, 0) <= 0:
            return False
        self.room[endpoint_id] -= 1
        return True


def expand_pending(
    now: datetime | None = None,
    *,
    max_events: int | None = None,
    first_tries: FirstTries | None = None,
) -> int:
    """Write the deliveries of events not yet fanned out; returns how many events were."""
    now = now or timezone.now()
    expanded = 0
    while max_events is None or expanded < max_events:
        count = _expand_some(now, EVENTS_PER_TRANSACTION, first_tries=first_tries)
        expanded += count
        if count == 0:
            break
    return expanded


def expand_event(event_id: str, now: datetime | None = None) -> None:
    """Fan one event out now, in the caller's transaction (for answers that list deliveries)."""
    _expand_some(now or timezone.now(), 1, OutboxEntry.objects.filter(pk=event_id))


def _expand_some(
    now: datetime,
    max_events: int,
    scope: QuerySet[OutboxEntry] | None = None,
    *,
    first_tries: FirstTries | None = None,
) -> int:
    unexpanded = OutboxEntry.objects.all() if scope is None else scope
    if not unexpanded.exists():  # the common case, on every turn of a worker's loop
        return 0
    unusable: dict[int, str] = {}
    try:
        with transaction.atomic():
            take_write_lock()
            return _expand_chunk(now, max_events, unexpanded, unusable, first_tries)
    finally:
        _disable_unusable(unusable)


Targets = dict[str, list[tuple[int, Any]]]
"""(pk, event types) of the active endpoints, by tenant."""


def _targets(tenants: set[str], unusable: dict[int, str]) -> Targets:
    """The active endpoints of ``tenants``; those that cannot be used go to ``unusable``."""
    targets: Targets = {}
    endpoints = Endpoint.objects.filter(is_active=True, tenant__in=tenants)
    for pk, tenant, patterns in endpoints.values_list("pk", "tenant", "event_types"):
        # A bare string is one pattern (older rows): usable, as event_type_matches reads it.
        stored = [patterns] if isinstance(patterns, str) else patterns
        problem = validators.event_types_problem(stored)
        if problem:
            unusable[pk] = str(problem)
        else:
            targets.setdefault(tenant, []).append((pk, patterns))
    return targets


def _expand_chunk(
    now: datetime,
    max_events: int,
    unexpanded: QuerySet[OutboxEntry],
    unusable: dict[int, str],
    first_tries: FirstTries | None = None,
) -> int:
    """Write the deliveries of the next unexpanded events (in the caller's transaction).

    Each event goes to its own tenant's endpoints. The events taken are cut
    short where their endpoints add up to :data:`ROWS_PER_TRANSACTION`; the
    rest are expanded by the next call.
    """
    entries = list(
        unexpanded.order_by("created_at", "sequence", "pk")
        .select_for_update(skip_locked=True)
        .values_list("pk", flat=True)[:max_events]
    )
    if not entries:
        return 0
    found = Event.objects.filter(pk__in=entries)
    if first_tries is None:  # else their payloads are sent soon: read them now
        found = found.only("pk", "event_type", "tenant", "created_at", "ordering_key", "sequence")
    by_pk = {event.pk: event for event in found}
    events = [by_pk[pk] for pk in entries if pk in by_pk]
    targets = _targets({event.tenant for event in events}, unusable)
    taken, rows = 0, 0
    for event in events:
        rows += len(targets.get(event.tenant, ()))
        if taken and rows > ROWS_PER_TRANSACTION:
            break
        taken += 1
    events = events[:taken]
    waiting: list[Delivery] = []
    leased: list[Delivery] = []
    for event in events:
        for endpoint_id, patterns in targets.get(event.tenant, ()):
            if not event_type_matches(patterns, event.event_type):
                continue
            # Due at the event's time, so that older events go out first.
            delivery = Delivery(
                event=event,
                endpoint_id=endpoint_id,
                next_attempt_at=event.created_at,
                created_at=now,
                ordering_key=event.ordering_key,
                sequence=event.sequence,
            )
            if first_tries and not event.ordering_key and first_tries.take(endpoint_id):
                delivery.attempt_count, delivery.locked_until = 1, first_tries.until
                leased.append(delivery)
            else:
                waiting.append(delivery)
    Delivery.objects.bulk_create(waiting, ignore_conflicts=True)
    if first_tries and leased:
        # No conflict is possible: these events' outbox entries are locked by this
        # transaction, so no other fan-out writes their deliveries. Their ids come back.
        Delivery.objects.bulk_create(leased)
        first_tries.leased.extend(leased)
    OutboxEntry.objects.filter(pk__in=[event.pk for event in events]).delete()
    return taken


def _disable_unusable(unusable: dict[int, str]) -> None:
    """Disable, after the fan-out's transaction, the endpoints it had to skip (with why)."""
    for endpoint in Endpoint.objects.filter(pk__in=unusable, is_active=True):
        reason = gettext("Its event types cannot be used: %(problem)s") % {
            "problem": unusable[endpoint.pk]
        }
        logger.warning("Fan-out skipped endpoint %s: %s", endpoint.pk, reason)
        if endpoint.disable(reason):
            alerts.disabled(endpoint, reason)
