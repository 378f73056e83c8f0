"""Deliver one delivery: claim a lease, send, record one Attempt, reschedule.

No transaction and no row lock is held during the HTTP call. Instead a worker
claims the delivery with a conditional UPDATE that sets a lease
(``locked_until``) and reserves the attempt number; ``attempt_count`` doubles
as a version number, so two workers can never claim the same attempt. A
lease that expired without a recorded attempt means the worker died mid-try:
the next claim records that lost attempt before sending again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from webhooks_app import conf, retry, signals, signing, transport
from webhooks_app.dispatch import enqueue_delivery
from webhooks_app.models import Attempt, Delivery, Endpoint, Event

Status = Delivery.Status


@dataclass(frozen=True)
class Outcome:
    """What one call of :func:`deliver` did."""

    attempt: Attempt
    decision: retry.Decision
    disable_reason: str = ""  # set when this attempt should disable the endpoint


def request_body(event: Event) -> bytes:
    """The Standard Webhooks payload shape, identical on every attempt."""
    document = {
        "type": event.event_type,
        "timestamp": event.created_at.isoformat(),
        "data": event.payload,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def request_headers(endpoint: Endpoint, event: Event, body: bytes, now: datetime) -> dict[str, str]:
    """The endpoint's extra headers, then ours; ours win whatever the case of theirs."""
    ours = {
        "Content-Type": "application/json",
        "User-Agent": conf.user_agent(),
        **signing.headers(endpoint.signing_secrets(now), event.pk, body, int(now.timestamp())),
    }
    reserved = {name.lower() for name in ours}
    extra = {
        str(name): str(value)
        for name, value in (endpoint.headers or {}).items()
        if str(name).lower() not in reserved
    }
    return {**extra, **ours}


def due_filter(now: datetime) -> Q:
    """Pending, due, not leased (or its lease expired), to an active endpoint."""
    return Q(status=Status.PENDING, next_attempt_at__lte=now, endpoint__is_active=True) & (
        Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    )


def claim(delivery_id: int, now: datetime) -> Delivery | None:
    """Lease a due delivery to this worker; None if it is not ours to send."""
    delivery = (
        Delivery.objects.filter(due_filter(now), pk=delivery_id)
        .select_related("event", "endpoint")
        .first()
    )
    if delivery is None:
        return None
    lease = now + timedelta(seconds=conf.lease_seconds())
    won = Delivery.objects.filter(
        pk=delivery_id,
        status=Status.PENDING,
        attempt_count=delivery.attempt_count,
        locked_until=delivery.locked_until,
    ).update(locked_until=lease, attempt_count=delivery.attempt_count + 1)
    if not won:
        return None
    if delivery.locked_until is not None:
        _record_lost_attempt(delivery, now)
    delivery.attempt_count += 1
    delivery.locked_until = lease
    return delivery


def _record_lost_attempt(delivery: Delivery, now: datetime) -> None:
    """The previous lease ran out with no Attempt: its worker died mid-try."""
    Attempt.objects.get_or_create(
        delivery=delivery,
        number=delivery.attempt_count,
        defaults={
            "error_type": retry.ErrorKind.LEASE_EXPIRED,
            "error": "The worker stopped during this attempt; its lease expired.",
            "created_at": delivery.locked_until or now,
        },
    )


def deliver(delivery_id: int, *, manual: bool = False) -> Outcome | None:
    """Try one delivery once, if it is due and unleased; None when there was nothing to do.

    Safe to call twice with the same id, at the same time or later: the claim
    lets exactly one caller send each attempt.
    """
    delivery = claim(delivery_id, timezone.now())
    if delivery is None:
        return None
    event, endpoint = delivery.event, delivery.endpoint
    now = timezone.now()
    body = request_body(event)
    response = transport.post(
        endpoint.url,
        body,
        request_headers(endpoint, event, body, now),
        timeout=conf.timeouts(),
        allowed_networks=conf.get("ALLOWED_NETWORKS"),
        max_body=conf.get("MAX_RESPONSE_BODY"),
    )
    decision = retry.decide(
        delivery.attempt_count,
        response.status_code,
        response.error_kind,
        conf.get("RETRY_SCHEDULE"),
        retry_after=response.headers.get("Retry-After"),
        max_retry_after=conf.get("MAX_RETRY_AFTER"),
        retry_client_errors=conf.get("RETRY_CLIENT_ERRORS"),
    )
    outcome = record(delivery, response, decision, manual=manual)
    _after_record(outcome)
    return outcome


def record(
    delivery: Delivery, response: transport.Response, decision: retry.Decision, *, manual: bool
) -> Outcome:
    """Write the Attempt and the delivery's new state in one short transaction."""
    now = timezone.now()
    finished = decision.verdict is not retry.Verdict.RETRY
    succeeded = decision.verdict is retry.Verdict.SUCCEEDED
    error = response.error or ("" if succeeded else decision.reason)
    # The delivery's UPDATE comes first: on SQLite a transaction that writes before
    # it reads waits for the lock instead of failing with "database is locked".
    with transaction.atomic():
        delivery.status = (
            Status.SUCCEEDED if succeeded else Status.FAILED if finished else Status.PENDING
        )
        delivery.next_attempt_at = (
            None if finished else now + timedelta(seconds=decision.delay or 0)
        )
        delivery.finished_at = now if finished else None
        delivery.last_status_code = response.status_code
        delivery.last_error = error
        delivery.locked_until = None
        # Only the lease holder may move the state on; a lease that was taken
        # over meanwhile leaves the newer claimant in charge.
        Delivery.objects.filter(pk=delivery.pk, attempt_count=delivery.attempt_count).update(
            status=delivery.status,
            next_attempt_at=delivery.next_attempt_at,
            finished_at=delivery.finished_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            locked_until=None,
        )
        # update_or_create: if our lease ran out meanwhile, another worker may
        # have written a "lease expired" placeholder for this number.
        attempt, _ = Attempt.objects.update_or_create(
            delivery=delivery,
            number=delivery.attempt_count,
            defaults={
                "status_code": response.status_code,
                "error_type": response.error_kind,
                "error": error,
                "duration_ms": response.duration_ms,
                "response_body": response.body,
                "trigger": Attempt.Trigger.MANUAL if manual else Attempt.Trigger.SCHEDULED,
                "created_at": now,
            },
        )
        disable_reason = _update_health(delivery.endpoint, decision, now)
    return Outcome(attempt, decision, disable_reason=disable_reason)


def _update_health(endpoint: Endpoint, decision: retry.Decision, now: datetime) -> str:
    """Track the endpoint's failure streak; return why to disable it, or ""."""
    endpoints = Endpoint.objects.filter(pk=endpoint.pk)
    if decision.verdict is retry.Verdict.SUCCEEDED:
        endpoints.filter(failure_streak__gt=0).update(failure_streak=0, failing_since=None)
        return ""
    endpoints.update(
        failure_streak=F("failure_streak") + 1, failing_since=Coalesce(F("failing_since"), now)
    )
    if decision.verdict is retry.Verdict.GONE:
        return decision.reason
    streak, since = endpoints.values_list("failure_streak", "failing_since").get()
    long_enough = now - since >= timedelta(seconds=conf.get("DISABLE_AFTER_SECONDS"))
    if streak < conf.get("DISABLE_AFTER_FAILURES") or not long_enough:
        return ""
    return f"{streak} failed attempts in a row since {since:%Y-%m-%d %H:%M} UTC"


def _after_record(outcome: Outcome) -> None:
    """Signals, sent once the new state is committed."""
    attempt, decision = outcome.attempt, outcome.decision
    delivery = attempt.delivery
    if decision.verdict is retry.Verdict.SUCCEEDED:
        signals.delivery_succeeded.send(sender=Delivery, delivery=delivery, attempt=attempt)
    elif decision.verdict is not retry.Verdict.RETRY:
        signals.delivery_failed.send(
            sender=Delivery, delivery=delivery, attempt=attempt, reason=decision.reason
        )
    if outcome.disable_reason:
        delivery.endpoint.disable(outcome.disable_reason)


def schedule_retry(outcome: Outcome | None) -> bool:
    """Enqueue a short retry with a countdown; longer waits are left to the sweep.

    A countdown longer than the broker's visibility timeout would make Redis
    redeliver the message early, so only delays up to ``MAX_COUNTDOWN`` use one.
    """
    if outcome is None or outcome.decision.verdict is not retry.Verdict.RETRY:
        return False
    delay = outcome.decision.delay or 0
    if delay > conf.get("MAX_COUNTDOWN"):
        return False
    return enqueue_delivery(outcome.attempt.delivery_id, countdown=delay)


def sweep(now: datetime | None = None, batch_size: int | None = None) -> int:
    """Re-enqueue every due, unleased delivery; returns how many were enqueued.

    Safe with many sweepers and workers at once: a delivery enqueued twice is
    claimed by one worker and the other message is a no-op.
    """
    now = now or timezone.now()
    batch_size = batch_size or conf.get("SWEEP_BATCH_SIZE")
    enqueued, last_id = 0, 0
    while True:
        ids = list(
            Delivery.objects.filter(due_filter(now), pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        for delivery_id in ids:
            enqueued += enqueue_delivery(delivery_id)
        if len(ids) < batch_size:
            return enqueued
        last_id = ids[-1]
