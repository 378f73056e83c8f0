"""The endpoint list's health columns: its state, the last 24 hours, the latest outcome;
and the circuit breaker's recent failure rate, for the change page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import F, FloatField, OrderBy, OuterRef, QuerySet, Subquery
from django.db.models.functions import Cast, NullIf
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from webhooks_app.admin import display
from webhooks_app.models import Attempt, Delivery, Endpoint
from webhooks_app.sending import state

# Shown on the list: how far back the delivery statistics look.
WINDOW = timedelta(hours=24)


def annotate_health(queryset: QuerySet[Endpoint], now=None) -> QuerySet[Endpoint]:
    """Add the last 24 hours' delivery counts and the latest tried delivery's outcome.

    One scalar subquery per value, each an index range scan on
    ``(endpoint, -created_at)``: the list costs the same number of queries
    whatever the number of endpoints and deliveries.
    """
    since = (now or timezone.now()) - WINDOW
    recent = Delivery.objects.filter(endpoint=OuterRef("pk"), created_at__gte=since)

    def latest(endpoint: OuterRef) -> QuerySet[Delivery]:
        return Delivery.objects.filter(endpoint=endpoint, attempt_count__gt=0).order_by(
            "-created_at", "-pk"
        )

    # The latest delivery's own latest attempt (by its unique (delivery, number) index),
    # so the error type goes with the status and error shown beside it.
    latest_attempt = Attempt.objects.filter(
        delivery=Subquery(latest(OuterRef(OuterRef("pk"))).values("pk")[:1])
    ).order_by("-number")
    return queryset.annotate(
        deliveries_24h=display.count_of(recent, "endpoint"),
        succeeded_24h=display.count_of(recent.filter(status=Delivery.Status.SUCCEEDED), "endpoint"),
        failed_24h=display.count_of(recent.filter(status=Delivery.Status.FAILED), "endpoint"),
        last_status_code=Subquery(latest(OuterRef("pk")).values("last_status_code")[:1]),
        last_error=Subquery(latest(OuterRef("pk")).values("last_error")[:1]),
        last_error_type=Subquery(latest_attempt.values("error_type")[:1]),
    )


HealthAnnotated = Any
"""An ``Endpoint`` with :func:`annotate_health`'s values (``deliveries_24h``, ...); the
type checker knows no model with them."""


# Finished deliveries that succeeded, in per cent (NULL without any); none sort last.
SUCCESS_RATE = OrderBy(
    Cast(F("succeeded_24h"), FloatField())
    * 100.0
    / NullIf(F("succeeded_24h") + F("failed_24h"), 0),
    nulls_last=True,
)


# The admin's colour of each tone of a state (display.COLOURS).
TONE_COLOURS = {"ok": "succeeded", "warn": "pending", "bad": "failed"}

# Characters of a state's reason shown in the list (all of it in a tooltip).
REASON_SHOWN = 80


def clock(moment) -> str:
    """A time with seconds (cool-downs are seconds long), with its date unless today."""
    local = timezone.localtime(moment)
    same_day = local.date() == timezone.localdate()
    return date_format(local, "H:i:s" if same_day else "Y-m-d H:i:s")


def state_html(endpoint: Endpoint, now=None) -> SafeString:
    """The endpoint's state (:mod:`webhooks_app.sending.state`): a badge, why, and when
    the next try or probe may go, as the portal and the APIs say it."""
    described = state.describe_endpoint(endpoint, now or timezone.now())
    lines = [display.badge(TONE_COLOURS[described.tone], described.label)]
    reason = described.reason
    if reason:
        shown = reason if len(reason) <= REASON_SHOWN else reason[: REASON_SHOWN - 1] + "…"
        lines.append(
            format_html(
                '<span class="quiet" style="display: inline-block; min-width: 8em;" '
                'title="{}">{}</span>',
                reason,
                shown,
            )
        )
    if described.until is not None:
        if described.code == state.CIRCUIT_OPEN:
            note = gettext("next probe at %(time)s")
        else:
            note = gettext("next try at %(time)s")
        lines.append(
            format_html('<span class="quiet">{}</span>', note % {"time": clock(described.until)})
        )
    return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))


def recent_tries_html(endpoint: Endpoint, now=None) -> SafeString:
    """The failure rate the circuit breaker reads (:class:`~webhooks_app.sending.state.
    RecentTries`), marked as such: it covers a minute or so of tries, where the other
    rates of the page cover a day of deliveries or of tries. Empty without recent tries."""
    summary = state.recent_tries(endpoint, now or timezone.now()).summary
    if not summary:
        return SafeString("")
    return format_html(
        '<span class="quiet" title="{}">{}</span>',
        gettext("Timeouts, connection errors and retryable statuses, as the breaker counts them"),
        summary,
    )
