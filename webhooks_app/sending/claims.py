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

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from webhooks_app import conf, retry, signals
from webhooks_app.db.locks import take_write_lock
from webhooks_app.models import Attempt, Delivery, Endpoint
from webhooks_app.observability import tracing
from webhooks_app.sending import claim_sql
from webhooks_app.sending.due import Due, allowed_in_flight

Status = Delivery.Status


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

    Two statements on PostgreSQL (lock the endpoints, then lease and read the
    deliveries in one ``UPDATE … RETURNING``), four elsewhere; see
    :mod:`webhooks_app.claim_sql`.
    """
    if limit <= 0:
        return Claim()
    now = now or timezone.now()
    # The lease and the request's overall deadline start together, so the request
    # (connect + read at most) always ends before the lease (+ LEASE_MARGIN) does.
    deadline = time.monotonic() + sum(conf.timeouts())
    lease = now + timedelta(seconds=conf.lease_seconds())
    due = Due.at(now, only=only)
    with transaction.atomic(savepoint=False):  # the engine may claim in its recording's transaction
        take_write_lock()
        endpoints = claim_sql.lock_endpoints(due, limit)
        if not endpoints:
            return Claim(contended=claim_sql.anything_claimable(due))
        room = {pk: allowed_in_flight(endpoint, due.cap) for pk, endpoint in endpoints.items()}
        leased = claim_sql.lease(due, room, limit, lease)
        claimed = _take_over(leased, endpoints, deadline, now)
        _space_rate_limited(claimed, endpoints, now)
    return Claim(claimed)


def claim_owned(
    owner: str, endpoints: dict[int, Endpoint], room: dict[int, int], now: datetime
) -> list[Delivery]:
    """Lease ahead, for the endpoints ``owner`` owns, up to ``room[endpoint]`` deliveries
    held at once (leased, queued or in flight), oldest first.

    The caller (the engine, in the same transaction as the ownership's renewal)
    keeps the in-flight cap and the rate limit in memory; the leases are what
    another worker's claim and the sweep see.
    """
    room = {pk: n for pk, n in room.items() if n > 0}
    if not room:
        return []
    deadline = time.monotonic() + sum(conf.timeouts())
    lease = now + timedelta(seconds=conf.lease_seconds())
    due = Due.at(now, owner=owner)
    with transaction.atomic(savepoint=False):
        take_write_lock()
        leased = claim_sql.lease(due, room, sum(room.values()), lease)
        return _take_over(leased, endpoints, deadline, now)


def _take_over(
    leased: list[tuple[Delivery, datetime | None]],
    endpoints: dict[int, Endpoint],
    deadline: float,
    now: datetime,
) -> list[Delivery]:
    """Ready the leased deliveries for sending; record the tries of expired leases as lost
    (and fail those out of attempts)."""
    claimed: list[Delivery] = []
    lost: list[tuple[Delivery, datetime]] = []
    context = tracing.current_context()  # the senders' spans start under it
    for item, previous_lease in leased:
        item.endpoint = endpoints[item.endpoint_id]
        item.deadline = deadline
        item.trace_context = context
        claimed.append(item)
        if previous_lease is not None:
            lost.append((item, previous_lease))
    exhausted = _fail_exhausted(lost, now)
    claimed = [item for item in claimed if item.pk not in exhausted]
    _record_lost_attempts(
        [(item, item.attempt_count - 1, at) for item, at in lost if item.pk not in exhausted],
        now,
    )
    return claimed


def release_unsent(items: list[Delivery]) -> None:
    """Give back leased deliveries that were never sent: no try happened, so the
    attempt number their claim reserved is taken back and no Attempt is written.

    Guarded by that number: a delivery another worker has claimed since (its
    lease ran out) is left alone.
    """
    groups: dict[int, list[int]] = {}
    for item in items:
        groups.setdefault(item.attempt_count, []).append(item.pk)
    for attempt_count, pks in groups.items():
        Delivery.objects.filter(
            pk__in=pks, attempt_count=attempt_count, status=Status.PENDING
        ).update(locked_until=None, attempt_count=F("attempt_count") - 1)


def _fail_exhausted(lost: list[tuple[Delivery, datetime]], now: datetime) -> set[int]:
    """Fail deliveries whose last allowed try was lost; returns their ids.

    A lost try (its worker died) counts against the schedule like any other,
    so a delivery whose worker keeps dying ends failed instead of looping.
    The claim has just reserved a try beyond the schedule for them: it is
    taken back in the same transaction, so no one ever sees it.
    """
    tries = len(conf.get("RETRY_SCHEDULE")) + 1
    exhausted = [(item, at) for item, at in lost if item.attempt_count > tries]
    if not exhausted:
        return set()
    reason = f"{retry.ErrorKind.LEASE_EXPIRED}; out of attempts ({tries})"
    state = {
        "status": Status.FAILED,
        "next_attempt_at": None,
        "finished_at": now,
        "locked_until": None,
        "last_error": reason,
    }
    ids = [item.pk for item, _ in exhausted]
    Delivery.objects.filter(pk__in=ids).update(attempt_count=F("attempt_count") - 1, **state)
    for item, _ in exhausted:
        item.attempt_count -= 1
        for name, value in state.items():
            setattr(item, name, value)
    placeholders = _record_lost_attempts(
        [(item, item.attempt_count, at) for item, at in exhausted], now
    )
    transaction.on_commit(lambda: _signal_failed(placeholders, reason))
    return set(ids)


def _signal_failed(lost: list[Attempt], reason: str) -> None:
    for attempt in lost:
        signals.delivery_failed.send(
            sender=Delivery, delivery=attempt.delivery, attempt=attempt, reason=reason
        )


def _space_rate_limited(
    claimed: list[Delivery], endpoints: dict[int, Endpoint], now: datetime
) -> None:
    """Pause each rate-limited endpoint for as long as the requests just claimed use up."""
    sent: dict[int, int] = {}
    for delivery in claimed:
        if endpoints[delivery.endpoint_id].rate_limit:
            sent[delivery.endpoint_id] = sent.get(delivery.endpoint_id, 0) + 1
    for endpoint_id, count in sent.items():
        Endpoint.objects.filter(pk=endpoint_id).update(
            paused_until=now + timedelta(seconds=count / (endpoints[endpoint_id].rate_limit or 1))
        )


def _record_lost_attempts(
    tries: list[tuple[Delivery, int, datetime]], now: datetime
) -> list[Attempt]:
    """Placeholders for tries whose leases ran out with no Attempt: their workers died.

    ``tries`` holds (delivery, number of the lost try, when its lease ran out).
    A worker that was only late still records its real outcome over the
    placeholder (see :mod:`webhooks_app.recording`).
    """
    lost = [
        Attempt(
            delivery=delivery,
            number=number,
            error_type=retry.ErrorKind.LEASE_EXPIRED,
            error="The worker stopped during this attempt; its lease expired.",
            created_at=min(leased_until, now),
        )
        for delivery, number, leased_until in tries
        if number >= 1
    ]
    if lost:
        Attempt.objects.bulk_create(lost, ignore_conflicts=True)
    return lost
