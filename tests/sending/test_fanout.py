"""Fan-out never fails because of one endpoint's stored settings.

Rows that no form could save (written by ``.update()``, a fixture, raw SQL) are skipped,
logged and disabled with a reason; the event still reaches every other endpoint, and
``send_event`` in the caller's transaction never raises for them.
"""

from __future__ import annotations

import logging

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from webhooks_app import send_event
from webhooks_app.models import Delivery, Endpoint
from webhooks_app.sending import fanout

pytestmark = pytest.mark.django_db

UNUSABLE = [5, [1], ["order.paid", 2], {"order.paid": True}, [""], ["bad pattern"], 3.5, True]


def endpoints_with(event_types) -> tuple[Endpoint, Endpoint]:
    good = Endpoint.objects.create(url="http://127.0.0.1:9/good", event_types=["order.*"])
    bad = Endpoint.objects.create(url="http://127.0.0.1:9/bad")
    Endpoint.objects.filter(pk=bad.pk).update(event_types=event_types)
    return good, bad


@pytest.mark.parametrize("event_types", UNUSABLE, ids=repr)
def test_an_unusable_endpoint_is_skipped_logged_and_disabled(event_types, caplog):
    good, bad = endpoints_with(event_types)
    with transaction.atomic():
        event = send_event("order.paid", {"id": 1})  # never raises in the caller's transaction
    with caplog.at_level(logging.WARNING, logger="webhooks_app"):
        assert fanout.expand_pending() == 1

    assert list(Delivery.objects.values_list("event_id", "endpoint_id")) == [(event.pk, good.pk)]
    bad.refresh_from_db()
    assert not bad.is_active and bad.disabled_at is not None
    assert "event types" in bad.disabled_reason
    assert any(
        str(bad.pk) in r.getMessage() and "event types" in r.getMessage() for r in caplog.records
    )
    good.refresh_from_db()
    assert good.is_active


def test_later_events_still_reach_the_others():
    good, bad = endpoints_with(5)
    for n in range(3):
        send_event("order.paid", {"id": n})
        fanout.expand_pending()
    assert Delivery.objects.filter(endpoint=good).count() == 3
    assert not Delivery.objects.filter(endpoint=bad).exists()


def test_a_bare_string_pattern_is_still_one_pattern():
    """Older rows may hold one pattern without its list: it is used, not disabled."""
    _, bare = endpoints_with("order.paid")
    send_event("order.paid", {"id": 1})
    fanout.expand_pending()
    assert Delivery.objects.filter(endpoint=bare).count() == 1
    bare.refresh_from_db()
    assert bare.is_active


def test_the_api_creates_the_event_and_delivers_to_the_others(django_user_model):
    good, bad = endpoints_with(5)
    user = django_user_model.objects.create_superuser("root")
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(
        "/api/webhooks/events/", {"event_type": "order.paid", "payload": {}}, format="json"
    )
    assert response.status_code == 201, response.content
    assert [d["endpoint"] for d in response.json()["deliveries"]] == [good.pk]
    bad.refresh_from_db()
    assert not bad.is_active


@pytest.mark.parametrize("event_types", UNUSABLE, ids=repr)
def test_an_unusable_filter_matches_nothing(event_types):
    """``Endpoint.accepts`` answers, it does not raise."""
    assert Endpoint(url="http://127.0.0.1:9/", event_types=event_types).accepts("x") is False
