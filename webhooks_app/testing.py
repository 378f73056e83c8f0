"""Helpers for testing your own receivers: correctly signed requests, one line each.

::

    from webhooks_app.testing import WebhookClient

    def test_order_paid(db):
        response = WebhookClient().post_stripe("/hooks/stripe/", {"id": "evt_1", ...},
                                               secret="whsec_...")
        assert response.status_code == 200

Or, with pytest, add ``from webhooks_app.testing import webhook_client  # noqa``
to your ``conftest.py`` and take the ``webhook_client`` fixture.

The ``*_headers`` functions return the headers alone, for any HTTP client.

:func:`isolated_event_types` gives a test its own event-type catalog::

    with isolated_event_types():
        event_types.register("order.paid", schema={...})
        ...                       # afterwards the catalog is as it was
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.test import Client

from webhooks_app import signing
from webhooks_app.event_types import registry

pytest: Any
try:  # pytest is optional: only the fixture needs it
    import pytest
except ImportError:  # pragma: no cover
    pytest = None


def encode(payload: Any) -> bytes:
    """A payload as the JSON bytes that are signed and sent (bytes pass through)."""
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload, separators=(",", ":")).encode()


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def standard_webhooks_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    return signing.headers([secret], msg_id or f"msg_{uuid.uuid4().hex}", body, timestamp)


def stripe_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = _hex_hmac(secret, f"{timestamp}.".encode() + body)
    return {"Stripe-Signature": f"t={timestamp},v1={signature}"}


def github_headers(
    secret: str, body: bytes, *, event: str = "push", delivery_id: str | None = None
) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": "sha256=" + _hex_hmac(secret, body),
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
    }


def shopify_headers(
    secret: str, body: bytes, *, topic: str = "orders/create", webhook_id: str | None = None
) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
    }


def slack_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = _hex_hmac(secret, f"v0:{timestamp}:".encode() + body)
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={signature}"}


@contextmanager
def isolated_event_types(*, empty: bool = True) -> Iterator[None]:
    """Run a block with its own event-type catalog, restored as it was afterwards.

    It starts empty, or with the types registered so far when ``empty=False``;
    types registered inside it, with any arguments, are forgotten at the end.
    """
    saved = registry._snapshot()
    if empty:
        registry._restore({})
    try:
        yield
    finally:
        registry._restore(saved)


class WebhookClient(Client):
    """A Django test client with one ``post_<provider>`` method per verifier."""

    def _post(self, path: str, body: bytes, headers: dict[str, str], extra: dict[str, str]):
        return self.post(path, body, content_type="application/json", headers={**headers, **extra})

    def post_standard_webhooks(self, path, payload, *, secret, headers=None, **options):
        body = encode(payload)
        return self._post(
            path, body, standard_webhooks_headers(secret, body, **options), headers or {}
        )

    def post_stripe(self, path, payload, *, secret, headers=None, **options):
        body = encode(payload)
        return self._post(path, body, stripe_headers(secret, body, **options), headers or {})

    def post_github(self, path, payload, *, secret, headers=None, **options):
        body = encode(payload)
        return self._post(path, body, github_headers(secret, body, **options), headers or {})

    def post_shopify(self, path, payload, *, secret, headers=None, **options):
        body = encode(payload)
        return self._post(path, body, shopify_headers(secret, body, **options), headers or {})

    def post_slack(self, path, payload, *, secret, headers=None, **options):
        body = encode(payload)
        return self._post(path, body, slack_headers(secret, body, **options), headers or {})


if pytest is not None:

    @pytest.fixture
    def webhook_client() -> WebhookClient:
        """A :class:`WebhookClient` (import this fixture into your conftest.py)."""
        return WebhookClient()
