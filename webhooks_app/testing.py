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

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.test import Client

from webhooks_app.event_types import registry
from webhooks_app.receivers.verifiers import (
    GitHubVerifier,
    ShopifyVerifier,
    SlackVerifier,
    StandardWebhooksVerifier,
    StripeVerifier,
    Verifier,
)

if TYPE_CHECKING:  # what Django's test client answers with, as django-stubs names it
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

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


# The headers each provider sends, signed by the provider's own verifier class.


def standard_webhooks_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    return StandardWebhooksVerifier(secret=secret).sign(body, msg_id=msg_id, timestamp=timestamp)


def stripe_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    return StripeVerifier(secret=secret).sign(body, timestamp=timestamp)


def github_headers(
    secret: str, body: bytes, *, event: str = "push", delivery_id: str | None = None
) -> dict[str, str]:
    return GitHubVerifier(secret=secret).sign(body, msg_id=delivery_id, event_type=event)


def shopify_headers(
    secret: str, body: bytes, *, topic: str = "orders/create", webhook_id: str | None = None
) -> dict[str, str]:
    return ShopifyVerifier(secret=secret).sign(body, msg_id=webhook_id, event_type=topic)


def slack_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    return SlackVerifier(secret=secret).sign(body, timestamp=timestamp)


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
    """A Django test client that posts requests signed as a provider signs them.

    :meth:`post_signed` signs with any verifier (``verifier.sign``); the
    ``post_<provider>`` methods are shortcuts that build the verifier from ``secret=``.
    """

    def post_signed(
        self,
        path: str,
        payload: Any,
        *,
        verifier: Verifier,
        headers: Mapping[str, str] | None = None,
        timestamp: int | None = None,
        msg_id: str | None = None,
        event_type: str | None = None,
        content_type: str = "application/json",
    ) -> Response:
        """POST ``payload`` (a JSON value, or bytes sent as they are) signed by ``verifier``.

        ``timestamp``, ``msg_id`` and ``event_type`` are passed to
        ``verifier.sign``; ``headers`` are added after the signed ones.
        """
        body = encode(payload)
        signed = verifier.sign(body, timestamp=timestamp, msg_id=msg_id, event_type=event_type)
        return self.post(
            path, body, content_type=content_type, headers={**signed, **(headers or {})}
        )

    def post_standard_webhooks(
        self,
        path: str,
        payload: Any,
        *,
        secret: str,
        headers: Mapping[str, str] | None = None,
        msg_id: str | None = None,
        timestamp: int | None = None,
    ) -> Response:
        verifier = StandardWebhooksVerifier(secret=secret)
        return self.post_signed(
            path, payload, verifier=verifier, headers=headers, msg_id=msg_id, timestamp=timestamp
        )

    def post_stripe(
        self,
        path: str,
        payload: Any,
        *,
        secret: str,
        headers: Mapping[str, str] | None = None,
        timestamp: int | None = None,
    ) -> Response:
        verifier = StripeVerifier(secret=secret)
        return self.post_signed(
            path, payload, verifier=verifier, headers=headers, timestamp=timestamp
        )

    def post_github(
        self,
        path: str,
        payload: Any,
        *,
        secret: str,
        headers: Mapping[str, str] | None = None,
        event: str = "push",
        delivery_id: str | None = None,
    ) -> Response:
        verifier = GitHubVerifier(secret=secret)
        return self.post_signed(
            path, payload, verifier=verifier, headers=headers, msg_id=delivery_id, event_type=event
        )

    def post_shopify(
        self,
        path: str,
        payload: Any,
        *,
        secret: str,
        headers: Mapping[str, str] | None = None,
        topic: str = "orders/create",
        webhook_id: str | None = None,
    ) -> Response:
        verifier = ShopifyVerifier(secret=secret)
        return self.post_signed(
            path, payload, verifier=verifier, headers=headers, msg_id=webhook_id, event_type=topic
        )

    def post_slack(
        self,
        path: str,
        payload: Any,
        *,
        secret: str,
        headers: Mapping[str, str] | None = None,
        timestamp: int | None = None,
    ) -> Response:
        verifier = SlackVerifier(secret=secret)
        return self.post_signed(
            path, payload, verifier=verifier, headers=headers, timestamp=timestamp
        )


if pytest is not None:

    @pytest.fixture
    def webhook_client() -> WebhookClient:
        """A :class:`WebhookClient` (import this fixture into your conftest.py)."""
        return WebhookClient()
