"""Inbound headers are stored by an allow-list (``WEBHOOKS["INBOUND_HEADERS"]``), not a
deny-list: credentials a sender adds under any name are never kept."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from tests.receivers import STANDARD_SECRET
from webhooks_app import conf
from webhooks_app.models import InboundEvent
from webhooks_app.testing import WebhookClient

pytestmark = pytest.mark.django_db

CREDENTIALS = {
    "X-Auth-Key": "auth-key-value",
    "X-Access-Key": "access-key-value",
    "X-Private-Key": "private-key-value",
    "X-Api-Secret-Thing": "secret-value",
    "Proxy-Authorization": "Basic cHJveHk6cHc=",
    "X-Amz-Security-Token": "amz-token",
}


def post(headers: dict[str, str], msg_id: str = "msg_1"):
    response = WebhookClient().post_standard_webhooks(
        "/hooks/standard/",
        {"type": "order.paid"},
        secret=STANDARD_SECRET,
        msg_id=msg_id,
        headers=headers,
    )
    assert response.status_code == 200
    return InboundEvent.objects.get(event_id=msg_id)


def test_credentials_under_any_name_are_not_stored():
    event = post({**CREDENTIALS, "X-Request-Id": "r1"})
    stored = {name.lower(): value for name, value in event.headers.items()}
    assert stored["webhook-id"] == "msg_1" and stored["x-request-id"] == "r1"
    assert not set(stored) & {name.lower() for name in CREDENTIALS}
    assert not set(stored.values()) & set(CREDENTIALS.values())
    assert "webhook-signature" not in stored  # signatures are not kept either


def test_only_the_listed_headers_are_kept():
    event = post({"X-Request-Id": "r1", "X-Custom": "c"})
    allowed = {name.lower() for name in conf.get("INBOUND_HEADERS")}
    assert {name.lower() for name in event.headers} <= allowed


def test_the_allow_list_is_a_setting():
    with override_settings(WEBHOOKS={**settings.WEBHOOKS, "INBOUND_HEADERS": ["x-custom"]}):
        event = post({"X-Custom": "c", "X-Request-Id": "r1"})
    assert event.headers == {"X-Custom": "c"}
