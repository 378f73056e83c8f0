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
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from webhooks_app import redaction, retry, transport
from webhooks_app.db.locks import take_write_lock
from webhooks_app.models import Attempt, Delivery
from webhooks_app.sending import effects, health
from webhooks_app.sending.results import Outcome, Result

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
    effects.after_commit(outcomes)
    return outcomes


def write(results: Sequence[Result]) -> list[Outcome]:
    """Write these tries in the caller's transaction, or raise; :func:`record` is the safe way.

    For a caller that has more to do in the same transaction (the engine claims
    the slots these tries free); it must call
    :func:`~webhooks_app.sending.effects.after_commit` once its
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
        changes = health.update(results, now)
    return [
        Outcome(attempt, result.decision, *changes.get(result.delivery.pk, ("", None)))
        for attempt, result in zip(attempts, results, strict=True)
    ]


def _write_alone(result: Result, now: datetime) -> Outcome:
    """One try by itself; if even that fails, an Attempt with only the error.

    The bare Attempt keeps nothing of the response, not even its status code or
    duration: any of them may be the value the database refused. They are named
    in the error text instead, and the try's decision stands.
    """
    try:
        return _write([result], now)[0]
    except Exception as exc:
        logger.exception(
            "Recording attempt %s of delivery %s", result.delivery.attempt_count, result.delivery.pk
        )
        response = result.response
        error = (
            f"The outcome could not be stored ({type(exc).__name__}): status "
            f"{response.status_code}, {response.duration_ms} ms."
        )
        bare = transport.Response(None, "", {}, 0, retry.ErrorKind.INTERNAL, error)
        return _write([Result(result.delivery, bare, result.decision, result.manual)], now)[0]


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
