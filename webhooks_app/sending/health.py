"""Endpoint health after a group of tries: failure streaks, the circuit breaker,
429 pauses, the owner's alerts and the decision to disable.

Runs in the recording's transaction, one statement per endpoint only when its
health changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest

from webhooks_app import conf, retry
from webhooks_app.models import Endpoint
from webhooks_app.sending import alerts
from webhooks_app.sending.results import Result

Verdict = retry.Verdict

Health = tuple[str, alerts.Alert | None]
"""What a try did to its endpoint: the reason it disabled it, or the alert it raised."""


def update(results: Sequence[Result], now: datetime) -> dict[int, Health]:
    """Streaks, circuit breaker, pauses and alerts per endpoint; returns {delivery: health}."""
    by_endpoint: dict[int, list[Result]] = {}
    for result in results:
        by_endpoint.setdefault(result.delivery.endpoint_id, []).append(result)
    changes: dict[int, Health] = {}
    # Endpoint rows are locked by their UPDATEs: always in one order, by primary key,
    # or two workers recording tries of the same endpoints deadlock.
    for endpoint_id, group in sorted(by_endpoint.items()):
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
