"""Gauges read from the database at scrape time: the backlog and the endpoints' state.

Each is one small query on an index (the claims' own): the scrape costs a few
milliseconds however large the tables grow. Processed inbound events are not
counted here (that would read the whole table); ``webhooks_inbound_events_total``
gives their rate.

If the database cannot answer, the gauges are left out of that scrape (and a
warning logged), so the rest of the registry is still served.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from django.db import DatabaseError
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from webhooks_app.models import Delivery, Endpoint, InboundEvent
from webhooks_app.sending import due

logger = logging.getLogger(__name__)

INBOUND_STATUSES = (InboundEvent.Status.PENDING, InboundEvent.Status.FAILED)


class DatabaseCollector(Collector):
    """``webhooks_due_lag_seconds``, ``webhooks_pending_deliveries``,
    ``webhooks_open_circuits``, ``webhooks_disabled_endpoints`` and
    ``webhooks_unprocessed_inbound_events{status}`` (pending, failed)."""

    def describe(self) -> list[GaugeMetricFamily]:
        # The names, without a query, so that a registry refuses a clash when registering.
        return list(_families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            values = read(timezone.now())
        except DatabaseError:
            logger.warning("The webhooks gauges could not be read", exc_info=True)
            return iter(())
        return _families(values)


def read(now: datetime) -> dict:
    """The gauges' values now."""
    oldest_due = due.oldest_due_at(now)
    inbound = dict.fromkeys(INBOUND_STATUSES, 0)
    rows = (
        InboundEvent.objects.filter(status__in=INBOUND_STATUSES)
        .order_by()
        .values_list("status")
        .annotate(count=Count("id"))
    )
    inbound.update(dict(rows))
    return {
        "lag": max(0.0, (now - oldest_due).total_seconds()) if oldest_due else 0.0,
        "pending": Delivery.objects.filter(status=Delivery.Status.PENDING).count(),
        "open_circuits": Endpoint.objects.filter(
            is_active=True, circuit_opened_at__isnull=False
        ).count(),
        "disabled": Endpoint.objects.filter(is_active=False).count(),
        "inbound": inbound,
    }


def _families(values: dict | None = None) -> Iterator[GaugeMetricFamily]:
    """The gauges, with ``values`` (or without samples, for ``describe``)."""

    def gauge(name: str, documentation: str, key: str) -> GaugeMetricFamily:
        if values is None:
            return GaugeMetricFamily(name, documentation)
        return GaugeMetricFamily(name, documentation, value=values[key])

    yield gauge(
        "webhooks_due_lag_seconds",
        "Age of the oldest due pending delivery that no worker holds (0 when none), "
        "paused endpoints' left out.",
        "lag",
    )
    yield gauge("webhooks_pending_deliveries", "Deliveries not finished yet.", "pending")
    yield gauge(
        "webhooks_open_circuits",
        "Active endpoints whose circuit breaker is open.",
        "open_circuits",
    )
    yield gauge("webhooks_disabled_endpoints", "Endpoints that are disabled.", "disabled")
    inbound = GaugeMetricFamily(
        "webhooks_unprocessed_inbound_events",
        "Received events waiting to be processed (pending) or whose handler failed.",
        labels=["status"],
    )
    if values is not None:
        for status, count in values["inbound"].items():
            inbound.add_metric([str(status)], count)
    yield inbound
