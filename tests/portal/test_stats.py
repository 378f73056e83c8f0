"""An endpoint's statistics on its portal page and its admin change page: the figures,
two SVG charts, the tenant's own tries only, a constant number of queries."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.portal.test_views import enter, page, url
from webhooks_app.models import Attempt, Delivery, Endpoint, Event
from webhooks_app.templatetags.webhooks_stats import percent

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


def tries(endpoint: Endpoint, *codes: int | None, hours_ago: int = 0) -> None:
    """One delivery per code (None: a timeout), tried once ``hours_ago``."""
    when = timezone.now() - timedelta(hours=hours_ago)
    for code in codes:
        event = Event.objects.create(event_type="order.paid", tenant=endpoint.tenant, payload={})
        ok = code is not None and 200 <= code < 300
        delivery = Delivery.objects.create(
            event=event,
            endpoint=endpoint,
            attempt_count=1,
            status=Delivery.Status.SUCCEEDED if ok else Delivery.Status.FAILED,
        )
        Attempt.objects.create(
            delivery=delivery,
            number=1,
            status_code=code,
            error_type="" if code else "timeout",
            duration_ms=40 if code else 3000,
            created_at=when,
        )


def charts(html: str) -> list[ET.Element]:
    found = re.findall(r'<svg [^>]*class="webhooks-chart".*?</svg>', html, re.S)
    return [ET.fromstring(svg) for svg in found]


def bars(chart: ET.Element) -> list[str]:
    return [
        rect.find(SVG + "title").text
        for rect in chart.iter(SVG + "rect")
        if rect.find(SVG + "title") is not None
    ]


@pytest.fixture
def endpoint() -> Endpoint:
    endpoint = Endpoint.objects.create(url="https://acme.example/hook", tenant="acme")
    tries(endpoint, 200, 200, 200, 503)
    tries(endpoint, None, hours_ago=3)
    tries(endpoint, 200, hours_ago=50)  # two days ago: in the daily chart only
    other = Endpoint.objects.create(url="https://globex.example/hook", tenant="globex")
    tries(other, 500, 500, 500, 500, 500, 500)
    return endpoint


def test_the_portal_endpoint_page_shows_the_figures_and_two_charts(endpoint, client):
    html = page(enter(client), url("endpoint", endpoint_id=endpoint.pk))
    figures = re.search(r'<dl class="webhooks-stats-figures">.*?</dl>', html, re.S).group()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", figures))
    assert "Success rate, 24 h 60 % (5 tries)" in text
    assert "2xx: 3" in text and "5xx: 1" in text and "no answer: 1" in text
    assert "40 ms / 3000 ms" in text
    hourly, daily = charts(html)
    assert hourly.get("role") == daily.get("role") == "img"
    assert hourly.find(SVG + "title").text == "Tries per hour, last 24 hours"
    assert hourly.find(SVG + "desc").text == ("5 tries: 3 succeeded, 0 retrying, 2 failed.")
    assert len(bars(hourly)) == 3  # this hour: succeeded and failed; 3 hours ago: failed
    assert daily.find(SVG + "desc").text == "6 tries: 4 succeeded, 0 retrying, 2 failed."
    assert "globex" not in html


def test_the_portal_page_costs_the_same_queries_whatever_the_tries(endpoint, client):
    enter(client)
    path = url("endpoint", endpoint_id=endpoint.pk)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page(client, path)
        return len(captured)

    few = queries()
    tries(endpoint, *[200] * 30, hours_ago=5)
    tries(endpoint, *[404] * 30, hours_ago=30)
    assert queries() == few


def test_the_admin_change_page_shows_the_charts(endpoint, admin_client):
    response = admin_client.get(reverse("admin:webhooks_app_endpoint_change", args=[endpoint.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<div class="webhooks-stats"' in html
    hourly, daily = charts(html)
    assert hourly.get("id") == f"webhooks-chart-{endpoint.pk}-hourly"
    assert daily.find(SVG + "desc").text == "6 tries: 4 succeeded, 0 retrying, 2 failed."


def test_an_endpoint_never_tried_shows_empty_charts(client):
    endpoint = Endpoint.objects.create(url="https://acme.example/new", tenant="acme")
    html = page(enter(client), url("endpoint", endpoint_id=endpoint.pk))
    assert len(charts(html)) == 2
    for chart in charts(html):
        assert bars(chart) == []
        assert "No tries" in [text.text for text in chart.iter(SVG + "text")]


@pytest.mark.parametrize(
    ("rate", "shown"),
    [
        (None, "—"),
        (0, "0 %"),
        (1, "100 %"),
        (0.5, "50 %"),
        (112 / 121, "92.6 %"),
        (0.99951, "100.0 %"),
    ],
)
def test_rates_are_rounded_to_one_decimal(rate, shown):
    assert percent(rate) == shown
