"""Record finished tries in bulk: Attempts, the deliveries' new states, endpoint health.

One short transaction per group of results, whatever their number: one
INSERT of Attempt rows, one UPDATE per distinct new delivery state (one for
all the successes), and a statement per endpoint only when its health
changes. Every try ends in exactly one Attempt: text the database cannot
store is made storable, and if the group still fails to write, each result
is written alone, down to a bare error row.

Only the holder of a delivery's lease may move its state on: the UPDATE is
guarded by the attempt number it claimed. A try whose lease was taken over
still writes its Attempt, over the "lease expired" placeholder the new
claimant left for that number.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from webhooks_app import alerts, conf, redaction, retry, signals, telemetry, transport
from webhooks_app.db import take_write_lock
from webhooks_app.models import Attempt, Delivery, Endpoint

logger = logging.getLogger(__name__)

Status = Delivery.Status
Verdict = retry.Verdict

ATTEMPT_FIELDS = [
    "status_code",
    "error_type",
    "error",
    "duration_ms",
    "response_body",
    "trigger",
    "created_at",
]
DELIVERY_FIELDS = [
    "status",
    "next_attempt_at",
    "finished_at",
    "last_status_code",
    "last_error",
    "locked_until",
]


@dataclass(frozen=True)
class Result:
    """One finished try: the delivery as claimed, what came back, and what it means."""

    delivery: Delivery
    response: transport.Response
    decision: retry.Decision
    manual: bool = False


@dataclass(frozen=True)
class Outcome:
    """What one try did, once recorded."""

    attempt: Attempt
    decision: retry.Decision
    disable_reason: str = ""  # set when this try disabled the endpoint
    alert: alerts.Alert | None = None  # set when this try's streak is to alert the owner


def storable(text: str) -> str:
    """``text`` as every database can store it: no NUL, no lone surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text


def _stored_error(text: str) -> str:
    """Error text as stored: storable, and with URL passwords and query-string values masked
    (a transport error may quote the URL, tokens and all)."""
    return storable(redaction.mask_text(text)) if text else ""


def record(results: Sequence[Result]) -> list[Outcome]:
    """Write these tries; returns their outcomes in the same order. Never raises for data."""
    if not results:
        return []
    now = timezone.now()
    try:
        outcomes = _write(results, now)
    except Exception:  # e.g. a DataError for one row: the others must not be lost with it
        logger.exception("Recording %d tries together failed; recording each", len(results))
        outcomes = [_write_alone(result, now) for result in results]
    after_commit(outcomes)
    return outcomes


def write(results: Sequence[Result]) -> list[Outcome]:
    """Write these tries in the caller's transaction, or raise; :func:`record` is the safe way.

    For a caller that has more to do in the same transaction (the engine claims
    the slots these tries free); it must call :func:`after_commit` once its
    transaction has committed, and fall back to :func:`record` if it failed.
    """
    return _write(results, timezone.now(), savepoint=False) if results else []


def _write(results: Sequence[Result], now: datetime, *, savepoint: bool = True) -> list[Outcome]:
    attempts = [_attempt(result, now) for result in results]
    deliveries = [_new_state(result, now) for result in results]
    with transaction.atomic(savepoint=savepoint):
        take_write_lock()
        _update_deliveries(deliveries)
        Attempt.objects.bulk_create(
            attempts,
            update_conflicts=True,
            unique_fields=["delivery", "number"],
            update_fields=ATTEMPT_FIELDS,
        )
        health = _update_health(results, now)
    return [
        Outcome(attempt, result.decision, *health.get(result.delivery.pk, ("", None)))
        for attempt, result in zip(attempts, results, strict=True)
    ]


def _write_alone(result: Result, now: datetime) -> Outcome:
    """One try by itself; if even that fails, an Attempt with only the error."""
    try:
        return _write([result], now)[0]
    except Exception as exc:
        logger.exception(
            "Recording attempt %s of delivery %s", result.delivery.attempt_count, result.delivery.pk
        )
        bare = Result(
            result.delivery,
            transport.Response(
                result.response.status_code,
                "",
                {},
                result.response.duration_ms,
                retry.ErrorKind.INTERNAL,
                f"The outcome could not be stored ({type(exc).__name__}).",
            ),
            result.decision,
            result.manual,
        )
        return _write([bare], now)[0]


def _attempt(result: Result, now: datetime) -> Attempt:
    response, decision = result.response, result.decision
    succeeded = decision.verdict is Verdict.SUCCEEDED
    return Attempt(
        delivery=result.delivery,
        number=result.delivery.attempt_count,
        status_code=response.status_code,
        error_type=response.error_kind,
        error=_stored_error(response.error or ("" if succeeded else decision.reason))[:2000],
        duration_ms=max(0, response.duration_ms),
        response_body=storable(response.body),
        trigger=Attempt.Trigger.MANUAL if result.manual else Attempt.Trigger.SCHEDULED,
        created_at=now,
    )


def _new_state(result: Result, now: datetime) -> Delivery:
    """The delivery as this try leaves it (an unsaved copy)."""
    delivery, decision = result.delivery, result.decision
    finished = decision.verdict is not Verdict.RETRY
    delivery.status = (
        Status.SUCCEEDED
        if decision.verdict is Verdict.SUCCEEDED
        else Status.FAILED
        if finished
        else Status.PENDING
    )
    delivery.next_attempt_at = None if finished else now + timedelta(seconds=decision.delay or 0)
    delivery.finished_at = now if finished else None
    delivery.last_status_code = result.response.status_code
    succeeded = delivery.status == Status.SUCCEEDED
    delivery.last_error = _stored_error(
        result.response.error or ("" if succeeded else decision.reason)
    )
    delivery.locked_until = None
    return delivery


def _update_deliveries(deliveries: list[Delivery]) -> None:
    """The new states, each row guarded by the attempt number its lease reserved.

    Results written together share their timestamp, so most of them leave
    their deliveries in identical states (all the successes, say): one UPDATE
    per distinct state, rather than one CASE per field and row, which costs
    Django far more to build than the database to run.
    """
    groups: dict[tuple, list[int]] = {}
    for delivery in deliveries:
        values = tuple(getattr(delivery, name) for name in DELIVERY_FIELDS)
        groups.setdefault((delivery.attempt_count, *values), []).append(delivery.pk)
    for (attempt_count, *state), pks in groups.items():
        Delivery.objects.filter(pk__in=pks, attempt_count=attempt_count).update(
            **dict(zip(DELIVERY_FIELDS, state, strict=True))
        )


Health = tuple[str, alerts.Alert | None]
"""What a try did to its endpoint: the reason it disabled it, or the alert it raised."""


def _update_health(results: Sequence[Result], now: datetime) -> dict[int, Health]:
    """Streaks, circuit breaker, pauses and alerts per endpoint; returns {delivery: health}."""
    by_endpoint: dict[int, list[Result]] = {}
    for result in results:
        by_endpoint.setdefault(result.delivery.endpoint_id, []).append(result)
    changes: dict[int, Health] = {}
    for endpoint_id, group in by_endpoint.items():
        culprit, health = _endpoint_health(endpoint_id, group, now)
        if culprit:
            changes[culprit] = health
    return changes


def _endpoint_health(endpoint_id: int, group: list[Result], now: datetime) -> tuple[int, Health]:
    endpoint = group[0].delivery.endpoint  # as claimed: enough to skip needless writes
    endpoints = Endpoint.objects.filter(pk=endpoint_id)
    succeeded = [r.decision.verdict is Verdict.SUCCEEDED for r in group]
    if all(succeeded):
        if (
            endpoint.failure_streak
            or endpoint.circuit_failures
            or endpoint.circuit_opened_at
            or endpoint.alerted_stage
        ):
            endpoints.update(
                failure_streak=0,
                failing_since=None,
                circuit_failures=0,
                circuit_opened_at=None,
                alerted_stage=Endpoint.Alert.NONE,
            )
        return 0, ("", None)
    last_success = max((i for i, ok in enumerate(succeeded) if ok), default=-1)
    failures = group[last_success + 1 :]
    transient = sum(_is_transient(r) for r in failures)
    if last_success >= 0:  # a success in this group ended the earlier streak
        endpoints.update(
            failure_streak=len(failures),
            failing_since=now,
            circuit_failures=transient,
            circuit_opened_at=None,
            alerted_stage=Endpoint.Alert.NONE,  # a new streak: its own alerts
        )
    else:
        endpoints.update(
            failure_streak=F("failure_streak") + len(failures),
            failing_since=Coalesce(F("failing_since"), Value(now)),
            circuit_failures=F("circuit_failures") + transient,
        )
    if transient:
        _trip_breaker(endpoints, now)
    pause = max((_retry_after(r) or 0 for r in failures), default=0)
    if pause > 0:
        until = now + timedelta(seconds=pause)
        endpoints.update(
            paused_until=Greatest(Coalesce(F("paused_until"), Value(until)), Value(until))
        )
    gone = next((r for r in failures if r.decision.verdict is Verdict.GONE), None)
    if gone is not None:
        return gone.delivery.pk, (gone.decision.reason, None)
    streak, since = endpoints.values_list("failure_streak", "failing_since").get()
    long_enough = since is not None and now - since >= timedelta(
        seconds=conf.get("DISABLE_AFTER_SECONDS")
    )
    if streak < conf.get("DISABLE_AFTER_FAILURES") or not long_enough:
        alert = alerts.claim(endpoints, streak, since, now)
        return (failures[-1].delivery.pk, ("", alert)) if alert else (0, ("", None))
    reason = f"{streak} failed attempts in a row since {since:%Y-%m-%d %H:%M} UTC"
    return failures[-1].delivery.pk, (reason, None)


def _is_transient(result: Result) -> bool:
    """A timeout, a connection error or a retryable status: the endpoint's own trouble."""
    response = result.response
    if response.status_code is None:
        return response.error_kind in (retry.ErrorKind.TIMEOUT, retry.ErrorKind.CONNECTION)
    return response.status_code in retry.RETRYABLE_STATUSES or response.status_code >= 500


def _trip_breaker(endpoints: QuerySet[Endpoint], now: datetime) -> None:
    """Open the circuit after a streak (or re-open it after a failed probe) for a cool-down."""
    until = now + timedelta(seconds=conf.get("CIRCUIT_BREAKER_COOLDOWN"))
    endpoints.filter(circuit_failures__gte=conf.get("CIRCUIT_BREAKER_THRESHOLD")).update(
        circuit_opened_at=Coalesce(F("circuit_opened_at"), Value(now)),
        paused_until=Greatest(Coalesce(F("paused_until"), Value(until)), Value(until)),
    )


def _retry_after(result: Result) -> float | None:
    """A 429's Retry-After, capped: it pauses the whole endpoint, not just this delivery."""
    if result.response.status_code != 429:
        return None
    seconds = retry.parse_retry_after(result.response.headers.get("Retry-After"))
    return None if seconds is None else min(seconds, conf.get("MAX_RETRY_AFTER"))


def after_commit(outcomes: list[Outcome]) -> None:
    """Signals, sent once the new states are committed; then owner alerts and endpoints
    to disable."""
    telemetry.deliveries(outcomes)  # log lines and metrics
    for outcome in outcomes:
        attempt, decision = outcome.attempt, outcome.decision
        delivery = attempt.delivery
        if decision.verdict is Verdict.SUCCEEDED:
            signals.delivery_succeeded.send(sender=Delivery, delivery=delivery, attempt=attempt)
        elif decision.verdict is not Verdict.RETRY:
            signals.delivery_failed.send(
                sender=Delivery, delivery=delivery, attempt=attempt, reason=decision.reason
            )
        if outcome.alert:
            alerts.notify(outcome.alert, delivery.endpoint, attempt)
        if outcome.disable_reason and delivery.endpoint.disable(outcome.disable_reason):
            alerts.disabled(delivery.endpoint, outcome.disable_reason, attempt)
