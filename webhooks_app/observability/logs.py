"""What each recorded outcome tells the outside: one log line, and metrics if installed.

Called once an outcome is committed (a recording that rolls back reports
nothing). Loggers, both documented in ``docs/observability.md``:

- ``webhooks_app.delivery``: one line per try, INFO when it succeeded, WARNING
  when a retry is scheduled, the delivery failed for good or the endpoint was
  disabled;
- ``webhooks_app.receivers``: one line per received event, INFO when processed,
  a duplicate or accepted for later, WARNING when its handler failed.

Each line carries its fields as ``LogRecord`` attributes too (``extra``), for
structured formatters. No secret is ever part of one: the URL is masked
(password, query-string values), error text is the Attempt's (masked the same
way) and a handler's error is named by its type only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import transaction

from webhooks_app import redaction
from webhooks_app.observability import metrics
from webhooks_app.observability.metrics import RecordedTry as Outcome
from webhooks_app.retry import Verdict

if TYPE_CHECKING:
    from webhooks_app.models import InboundEvent

delivery_logger = logging.getLogger("webhooks_app.delivery")
inbound_logger = logging.getLogger("webhooks_app.receivers")

ERROR_IN_LOG = 300
"""Characters of an attempt's error text a log line quotes."""


def deliveries(outcomes: Sequence[Outcome]) -> None:
    """Log and count recorded tries once the transaction that wrote them commits."""
    if outcomes:
        transaction.on_commit(partial(_report_deliveries, outcomes))


def _report_deliveries(outcomes: Sequence[Outcome]) -> None:
    metrics.count_deliveries(outcomes)
    if not delivery_logger.isEnabledFor(logging.INFO):
        if not delivery_logger.isEnabledFor(logging.WARNING):
            return
        outcomes = [o for o in outcomes if _level(o) >= logging.WARNING]
    for outcome in outcomes:
        _log_delivery(outcome)


def _level(outcome: Outcome) -> int:
    if outcome.decision.verdict is Verdict.SUCCEEDED and not outcome.disable_reason:
        return logging.INFO
    return logging.WARNING


def _log_delivery(outcome: Outcome) -> None:
    attempt, decision = outcome.attempt, outcome.decision
    delivery = attempt.delivery
    verdict = decision.verdict
    fields: dict[str, Any] = {
        "delivery_id": delivery.pk,
        "event_id": str(delivery.event_id),
        "event_type": delivery.event.event_type,
        "endpoint_id": delivery.endpoint_id,
        "url": redaction.mask_url(delivery.endpoint.url),
        "attempt": attempt.number,
        "status_code": attempt.status_code,
        "error_type": attempt.error_type,
        "duration_ms": attempt.duration_ms,
        "verdict": verdict.value,
        "next_attempt_at": delivery.next_attempt_at.isoformat()
        if verdict is Verdict.RETRY and delivery.next_attempt_at
        else None,
        "endpoint_disabled": bool(outcome.disable_reason),
    }
    answer = attempt.status_code if attempt.status_code is not None else attempt.error_type
    head = "Delivery %s of %s (%s) to endpoint %s, attempt %s: %s in %s ms"
    args: list[Any] = [
        delivery.pk,
        fields["event_id"],
        fields["event_type"],
        delivery.endpoint_id,
        attempt.number,
        answer,
        attempt.duration_ms,
    ]
    if verdict is Verdict.SUCCEEDED:
        tail = ", succeeded"
    elif verdict is Verdict.RETRY:
        tail, args = ", retry at %s: %s", [*args, fields["next_attempt_at"], _error(attempt)]
    else:
        tail, args = ", failed for good (%s): %s", [*args, verdict.value, _error(attempt)]
    if outcome.disable_reason:
        tail, args = tail + "; endpoint disabled: %s", [*args, outcome.disable_reason]
    delivery_logger.log(_level(outcome), head + tail, *args, extra=fields)


def _error(attempt: Any) -> str:
    return (attempt.error or "")[:ERROR_IN_LOG]


def inbound(source: str, outcome: str, event: InboundEvent, exception: Any = None) -> None:
    """Log and count one received event's outcome once its transaction commits."""
    transaction.on_commit(partial(_report_inbound, source, outcome, event, exception))


def _report_inbound(source: str, outcome: str, event: InboundEvent, exception: Any) -> None:
    metrics.count_inbound(source, outcome)
    level = logging.WARNING if outcome == "failed" else logging.INFO
    if not inbound_logger.isEnabledFor(level):
        return
    fields = {
        "source": source,
        "inbound_id": event.pk,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "outcome": outcome,
        "error_type": type(exception).__name__ if exception is not None else "",
    }
    message = "Inbound event %s from %s (%s): %s"
    args: list[Any] = [event.event_id, source, event.event_type, outcome]
    if exception is not None:
        message, args = message + " (%s)", [*args, fields["error_type"]]
    inbound_logger.log(level, message, *args, extra=fields)
