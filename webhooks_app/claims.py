"""Claim a batch of due deliveries for this worker, in one short transaction.

A claim leases each delivery (``locked_until``) and reserves its attempt number
(``attempt_count + 1``); no transaction or row lock outlives the claim, so
nothing is held during HTTP. Workers never claim the same attempt:

- the endpoints of the candidates are locked ``FOR UPDATE SKIP LOCKED``, so
  two workers never claim for one endpoint at the same time (the other one
  skips it rather than waiting) — which also makes the per-endpoint cap of
  requests in flight exact across workers, since leased deliveries are the
  ones in flight;
- the lease UPDATE re-checks that each delivery is still due and unleased.

SQLite has no row locks; there the claim takes the database's write lock
first, which serializes claims just as well.

A lease that expired with no Attempt recorded means a worker died mid-try:
the claim that takes the delivery over records that lost try first.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import ceil

from django.db import transaction
from django.db.models import Count, F, Min, Q, QuerySet
from django.utils import timezone

from webhooks_app import conf, retry, signals
from webhooks_app.db import take_write_lock
from webhooks_app.models import Attempt, Delivery, Endpoint

Status = Delivery.Status

CANDIDATES_PER_SLOT = 4
"""Due deliveries read per free slot: some belong to endpoints with no room left."""

RATE_LIMIT_SLICES = 10
"""A rate-limited endpoint gets at most a tenth of a second's worth of requests per claim."""


def due_filter(now: datetime) -> Q:
    """Pending, due, not leased (or its lease expired), to an active endpoint."""
    return Q(status=Status.PENDING, next_attempt_at__lte=now, endpoint__is_active=True) & (
        Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    )


def unpaused(now: datetime) -> Q:
    """To an endpoint that is not paused (429, open circuit, rate limit)."""
    return Q(endpoint__paused_until__isnull=True) | Q(endpoint__paused_until__lte=now)


def claimable(now: datetime) -> QuerySet[Delivery]:
    return Delivery.objects.filter(due_filter(now), unpaused(now))


@dataclass
class Claim:
    """What one claim got, and whether other claims held endpoints it had work for."""

    deliveries: list[Delivery] = field(default_factory=list)
    contended: bool = False  # so an empty claim does not mean "nothing is due"


def claim(
    limit: int, now: datetime | None = None, *, only: Collection[int] | None = None
) -> list[Delivery]:
    """Lease up to ``limit`` due deliveries to this worker (see :func:`claim_batch`)."""
    return claim_batch(limit, now, only=only).deliveries


def claim_batch(
    limit: int, now: datetime | None = None, *, only: Collection[int] | None = None
) -> Claim:
    """Lease up to ``limit`` due deliveries to this worker, oldest first.

    Each comes with its event and endpoint loaded and ``attempt_count`` set to
    the number of the try it is claimed for. ``only`` restricts the claim to
    those deliveries and lets them through a paused endpoint (an operator's
    "send now"); the per-endpoint cap of requests in flight still holds.
    """
    if limit <= 0:
        return Claim()
    now = now or timezone.now()
    # The lease and the request's overall deadline start together, so the request
    # (connect + read at most) always ends before the lease (+ LEASE_MARGIN) does.
    deadline = time.monotonic() + sum(conf.timeouts())
    lease = now + timedelta(seconds=conf.lease_seconds())
    cap = conf.get("MAX_IN_FLIGHT_PER_ENDPOINT")
    with transaction.atomic():
        take_write_lock()
        due = Delivery.objects.filter(due_filter(now)).exclude(endpoint_id__in=_full(now, cap))
        due = due.filter(pk__in=only) if only is not None else due.filter(unpaused(now))
        candidates = list(
            due.order_by("next_attempt_at", "pk").values_list(
                "pk", "endpoint_id", "locked_until", "attempt_count"
            )[: limit * CANDIDATES_PER_SLOT]
        )
        candidates = _fail_exhausted(candidates, now)
        if not candidates:
            return Claim()
        wanted = _endpoints_for(candidates, limit, cap)
        room, rates = _room(wanted, cap, now)
        contended = len(room) < len(wanted)
        chosen: list[int] = []
        for pk, endpoint_id, _, _ in candidates:
            if room.get(endpoint_id, 0) > 0:
                room[endpoint_id] -= 1
                chosen.append(pk)
                if len(chosen) == limit:
                    break
        if not chosen:
            return Claim(contended=contended)
        Delivery.objects.filter(due_filter(now), pk__in=chosen).update(
            locked_until=lease, attempt_count=F("attempt_count") + 1
        )
        # Our leases: the endpoints are locked, so no other claim can have set one meanwhile.
        claimed = list(
            Delivery.objects.filter(pk__in=chosen, locked_until=lease)
            .select_related("event", "endpoint")
            .order_by("next_attempt_at", "pk")
        )
        for item in claimed:
            item.deadline = deadline
        _space_rate_limited(claimed, rates, now)
        expired = {pk: locked for pk, _, locked, _ in candidates if locked is not None}
        _record_lost_attempts(
            [(d, d.attempt_count - 1) for d in claimed if d.pk in expired], expired, now
        )
    return Claim(claimed, contended)


def _endpoints_for(candidates: list[tuple], limit: int, cap: int) -> set[int]:
    """The endpoints of the oldest candidates, as many as can fill ``limit`` slots.

    Locking no more endpoints than the claim can use leaves the rest to other
    workers claiming at the same time.
    """
    slots: dict[int, int] = {}
    filled = 0
    for _, endpoint_id, _, _ in candidates:
        taken = slots.setdefault(endpoint_id, 0)
        if taken < cap:
            slots[endpoint_id] = taken + 1
            filled += 1
            if filled >= limit:
                break
    return set(slots)


def _fail_exhausted(candidates: list[tuple], now: datetime) -> list[tuple]:
    """Fail deliveries whose last allowed try was lost; return the other candidates.

    A lost try (its worker died) counts against the schedule like any other,
    so a delivery whose worker keeps dying ends failed instead of looping.
    """
    tries = len(conf.get("RETRY_SCHEDULE")) + 1
    exhausted = {
        pk: (locked, count)
        for pk, _, locked, count in candidates
        if locked is not None and count >= tries
    }
    if not exhausted:
        return candidates
    reason = f"{retry.ErrorKind.LEASE_EXPIRED}; out of attempts ({tries})"
    Delivery.objects.filter(due_filter(now), pk__in=exhausted).update(
        status=Status.FAILED,
        next_attempt_at=None,
        finished_at=now,
        locked_until=None,
        last_error=reason,
    )
    failed = list(Delivery.objects.filter(pk__in=exhausted, status=Status.FAILED, finished_at=now))
    lost = _record_lost_attempts(
        [(d, d.attempt_count) for d in failed], {pk: at for pk, (at, _) in exhausted.items()}, now
    )
    transaction.on_commit(lambda: _signal_failed(lost, reason))
    return [candidate for candidate in candidates if candidate[0] not in exhausted]


def _signal_failed(lost: list[Attempt], reason: str) -> None:
    for attempt in lost:
        signals.delivery_failed.send(
            sender=Delivery, delivery=attempt.delivery, attempt=attempt, reason=reason
        )


def _leased(now: datetime) -> QuerySet:
    """Deliveries with a live lease: the requests in flight, grouped by endpoint."""
    return (
        Delivery.objects.filter(status=Status.PENDING, locked_until__gt=now)
        .values("endpoint_id")
        .annotate(count=Count("pk"))
    )


def _full(now: datetime, cap: int) -> QuerySet:
    """Endpoints with no room for another request (a subquery of the candidates' query).

    Leaving them out keeps a backlog of a saturated endpoint from filling the
    candidates, so the others' due deliveries are found. An open circuit has
    room for one probe at a time.
    """
    return (
        _leased(now)
        .annotate(probing=Min("endpoint__circuit_opened_at"))
        .filter(Q(count__gte=cap) | Q(probing__isnull=False))
        .values("endpoint_id")
    )


def _room(endpoint_ids: set[int], cap: int, now: datetime) -> tuple[dict, dict]:
    """How many more requests each endpoint may take now, and the rate limits among them.

    Only endpoints this claim could lock get room: another worker claiming for
    one at this moment has it, and it is skipped rather than waited for. Their
    requests in flight are counted after locking, so no other claim can add
    to them until this transaction ends.
    """
    locked = list(
        Endpoint.objects.filter(pk__in=sorted(endpoint_ids))
        .select_for_update(skip_locked=True)
        .values_list("pk", "circuit_opened_at", "rate_limit")
    )
    busy = dict(
        _leased(now)
        .filter(endpoint_id__in=[pk for pk, _, _ in locked])
        .values_list("endpoint_id", "count")
    )
    room: dict[int, int] = {}
    rates: dict[int, int] = {}
    for pk, circuit_opened_at, rate_limit in locked:
        # An open circuit past its cool-down lets one probe through at a time.
        allowed = 1 if circuit_opened_at is not None else cap
        if rate_limit:
            allowed = min(allowed, ceil(rate_limit / RATE_LIMIT_SLICES))
            rates[pk] = rate_limit
        room[pk] = allowed - busy.get(pk, 0)
    return room, rates


def _space_rate_limited(claimed: list[Delivery], rates: dict[int, int], now: datetime) -> None:
    """Pause each rate-limited endpoint for as long as the requests just claimed use up."""
    sent: dict[int, int] = {}
    for delivery in claimed:
        if delivery.endpoint_id in rates:
            sent[delivery.endpoint_id] = sent.get(delivery.endpoint_id, 0) + 1
    for endpoint_id, count in sent.items():
        Endpoint.objects.filter(pk=endpoint_id).update(
            paused_until=now + timedelta(seconds=count / rates[endpoint_id])
        )


def _record_lost_attempts(
    tries: list[tuple[Delivery, int]], leased_until: dict[int, datetime], now: datetime
) -> list[Attempt]:
    """Placeholders for tries whose leases ran out with no Attempt: their workers died.

    A worker that was only late still records its real outcome over the
    placeholder (see :mod:`webhooks_app.recording`).
    """
    lost = [
        Attempt(
            delivery=delivery,
            number=number,
            error_type=retry.ErrorKind.LEASE_EXPIRED,
            error="The worker stopped during this attempt; its lease expired.",
            created_at=min(leased_until[delivery.pk], now),
        )
        for delivery, number in tries
        if number >= 1
    ]
    if lost:
        Attempt.objects.bulk_create(lost, ignore_conflicts=True)
    return lost


def seconds_until_next(now: datetime | None = None) -> float | None:
    """Seconds until a pending delivery becomes claimable after ``now``, or None.

    Deliveries already claimable are not counted: a worker that could not
    claim them found their endpoints busy, and the worker keeping those
    endpoints busy claims them when its requests are done.
    """
    now = now or timezone.now()
    pending = Delivery.objects.filter(
        Q(locked_until__isnull=True) | Q(locked_until__lte=now),
        status=Status.PENDING,
        endpoint__is_active=True,
    )
    retry_at = (
        pending.filter(unpaused(now), next_attempt_at__gt=now)
        .aggregate(at=Min("next_attempt_at"))
        .get("at")
    )
    resume_at = (
        pending.filter(
            endpoint__paused_until__gt=now, next_attempt_at__lte=F("endpoint__paused_until")
        )
        .aggregate(at=Min("endpoint__paused_until"))
        .get("at")
    )
    times = [at for at in (retry_at, resume_at) if at is not None]
    return max(0.0, (min(times) - now).total_seconds()) if times else None
