"""The endpoint list's health columns: the last 24 hours' deliveries and the latest outcome."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import F, FloatField, OrderBy, OuterRef, QuerySet, Subquery
from django.db.models.functions import Cast, NullIf
from django.utils import timezone

from webhooks_app.admin import display
from webhooks_app.models import Attempt, Delivery, Endpoint

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
