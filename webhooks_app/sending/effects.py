"""What follows a committed try: log lines and metrics, signals, owner alerts, disabling."""

from __future__ import annotations

from webhooks_app import retry, signals
from webhooks_app.models import Delivery
from webhooks_app.observability import logs
from webhooks_app.sending import alerts
from webhooks_app.sending.results import Outcome

Verdict = retry.Verdict


def after_commit(outcomes: list[Outcome]) -> None:
    """Signals, sent once the new states are committed; then owner alerts and endpoints
    to disable."""
    logs.deliveries(outcomes)  # log lines and metrics
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
