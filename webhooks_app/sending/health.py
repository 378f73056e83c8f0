"""Endpoint health after a group of tries: failure streaks, the circuit breaker,
429 pauses, the owner's alerts and the decision to disable.

Runs in the recording's transaction. Every group of tries counts in its endpoints'
circuit breaker windows (:mod:`webhooks_app.breaker`), in UPDATEs that add to the
columns (:mod:`webhooks_app.sending.health_sql`), so two workers recording the same
endpoint never lose each other's counts. The endpoints whose tries all succeeded share
one UPDATE: a statement is a round trip, and the recording thread's round trips wait
for the GIL behind the sender threads. An endpoint with a failure gets its own UPDATE,
then its row is read back (locked by that UPDATE until the commit) to decide on the
circuit, and written again only to open it, pause the endpoint or claim an alert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest

from webhooks_app import breaker, conf, retry
from webhooks_app.models import Endpoint
from webhooks_app.sending import alerts, health_sql
from webhooks_app.sending.results import Result

Verdict = retry.Verdict

Health = tuple[str, alerts.Alert | None]
"""What a try did to its endpoint: the reason it disabled it, or the alert it raised."""


def policy() -> breaker.Policy:
    """The circuit breaker's settings."""
    return breaker.Policy(
        window=conf.get("CIRCUIT_BREAKER_WINDOW"),
        failure_rate=conf.get("CIRCUIT_BREAKER_FAILURE_RATE"),
        min_requests=conf.get("CIRCUIT_BREAKER_MIN_REQUESTS"),
        streak=conf.get("CIRCUIT_BREAKER_THRESHOLD"),
    )


def update(results: Sequence[Result], now: datetime) -> dict[int, Health]:
    """Streaks, circuit breaker, pauses and alerts per endpoint; returns {delivery: health}."""
    by_endpoint: dict[int, list[Result]] = {}
    for result in results:
        by_endpoint.setdefault(result.delivery.endpoint_id, []).append(result)
    changes: dict[int, Health] = {}
    rule = policy()
    window = health_sql.Window(now, rule.window)
    # Endpoint rows are locked by their UPDATEs: always in one order, by primary key,
    # or two workers recording tries of the same endpoints deadlock. Endpoints whose
    # tries all succeeded share one UPDATE, with their neighbours in that order.
    succeeded: dict[int, int] = {}
    for endpoint_id, group in sorted(by_endpoint.items()):
        if all(r.decision.verdict is Verdict.SUCCEEDED for r in group):
            succeeded[endpoint_id] = len(group)
            continue
        if succeeded:
            health_sql.all_succeeded(succeeded, window)
            succeeded = {}
        culprit, health = _endpoint_health(endpoint_id, group, now, rule, window)
        if culprit:
            changes[culprit] = health
    if succeeded:
        health_sql.all_succeeded(succeeded, window)
    return changes


def _endpoint_health(
    endpoint_id: int,
    group: list[Result],
    now: datetime,
    rule: breaker.Policy,
    window: health_sql.Window,
) -> tuple[int, Health]:
    """A group with a failure: the streak goes on (or a new one starts after a success),
    then the row is read back to decide on the circuit, the endpoint's owner and its fate."""
    endpoints = Endpoint.objects.filter(pk=endpoint_id)
    last_success = max(
        (i for i, r in enumerate(group) if r.decision.verdict is Verdict.SUCCEEDED), default=-1
    )
    failures = group[last_success + 1 :]
    transient = sum(_is_transient(r) for r in failures)
    health_sql.failed(
        endpoint_id,
        tries=len(group),
        failures=sum(_is_transient(r) for r in group),
        streak=len(failures),
        transient_streak=transient,
        after_a_success=last_success >= 0,
        window=window,
    )
    row = endpoints.values(
        "failure_streak",
        "failing_since",
        "circuit_failures",
        "circuit_opened_at",
        "window_started_at",
        "window_requests",
        "window_failures",
    ).get()
    _open_or_pause(endpoints, row, failures, transient, now, rule)
    gone = next((r for r in failures if r.decision.verdict is Verdict.GONE), None)
    if gone is not None:
        return gone.delivery.pk, (gone.decision.reason, None)
    streak, since = row["failure_streak"], row["failing_since"]
    long_enough = since is not None and now - since >= timedelta(
        seconds=conf.get("DISABLE_AFTER_SECONDS")
    )
    if streak < conf.get("DISABLE_AFTER_FAILURES") or not long_enough:
        alert = alerts.claim(endpoints, streak, since, now)
        return (failures[-1].delivery.pk, ("", alert)) if alert else (0, ("", None))
    reason = f"{streak} failed attempts in a row since {since:%Y-%m-%d %H:%M} UTC"
    return failures[-1].delivery.pk, (reason, None)


def _open_or_pause(
    endpoints: QuerySet[Endpoint],
    row: Mapping[str, Any],
    failures: list[Result],
    transient: int,
    now: datetime,
    rule: breaker.Policy,
) -> None:
    """Open the circuit (or open it again after a failed probe) for a cool-down, and
    pause the endpoint for a 429's Retry-After: one UPDATE, only when either is due."""
    window = breaker.Window(
        row["window_started_at"], row["window_requests"], row["window_failures"]
    )
    trips = transient > 0 and breaker.trips(
        window,
        row["circuit_failures"],
        rule,
        circuit_open=row["circuit_opened_at"] is not None,
    )
    pause = max((_retry_after(r) or 0 for r in failures), default=0)
    if trips:
        pause = max(pause, conf.get("CIRCUIT_BREAKER_COOLDOWN"))
    if not trips and pause <= 0:
        return
    until = now + timedelta(seconds=pause)
    opened = {"circuit_opened_at": Coalesce(F("circuit_opened_at"), Value(now))} if trips else {}
    endpoints.update(
        paused_until=Greatest(Coalesce(F("paused_until"), Value(until)), Value(until)),
        **opened,
    )


def _is_transient(result: Result) -> bool:
    """A timeout, a connection error or a retryable status: the endpoint's own trouble."""
    response = result.response
    if response.status_code is None:
        return response.error_kind in (retry.ErrorKind.TIMEOUT, retry.ErrorKind.CONNECTION)
    return response.status_code in retry.RETRYABLE_STATUSES or response.status_code >= 500


def _retry_after(result: Result) -> float | None:
    """A 429's Retry-After, capped: it pauses the whole endpoint, not just this delivery."""
    if result.response.status_code != 429:
        return None
    seconds = retry.parse_retry_after(result.response.headers.get("Retry-After"))
    return None if seconds is None else min(seconds, conf.get("MAX_RETRY_AFTER"))
