"""Shopify: ``X-Shopify-Hmac-Sha256``, the base64 HMAC-SHA256 of the body."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from webhooks_app.receivers import parsing
from webhooks_app.receivers.messages import Headers
from webhooks_app.receivers.verifiers.base import InvalidSignature, Verifier, header
from webhooks_app.signing import matches_any


class ShopifyVerifier(Verifier):
    """Shopify's headers as ``X-Shopify-*`` or, on newer API versions, ``shopify-*``.

    The event id is ``X-Shopify-Event-Id``, which a re-sent event keeps (Shopify's
    duplicate marker), else ``X-Shopify-Webhook-Id``; the type is ``X-Shopify-Topic``.
    """

    name = "shopify"
    body_format = parsing.JSON

    @staticmethod
    def _pick(headers: Headers, suffix: str) -> str | None:
        return header(headers, f"X-Shopify-{suffix}") or header(headers, f"Shopify-{suffix}")

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        value = self._pick(headers, "Hmac-Sha256")
        if not value:
            raise InvalidSignature("The X-Shopify-Hmac-Sha256 header is missing")
        expected = [base64.b64encode(d) for d in self.digests(body)]
        if not matches_any(expected, [value.strip().encode()]):
            raise InvalidSignature("The Shopify signature does not match")

    def signed_headers(
        self, body: bytes, *, timestamp: int, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        """``msg_id`` is the ``X-Shopify-Webhook-Id``; ``event_type`` the topic."""
        return {
            "X-Shopify-Hmac-Sha256": base64.b64encode(self.digests(body)[0]).decode(),
            "X-Shopify-Topic": event_type or "orders/create",
            "X-Shopify-Webhook-Id": msg_id or str(uuid.uuid4()),
        }

    def event_id(self, payload: Any, headers: Headers) -> str | None:
        return self._pick(headers, "Event-Id") or self._pick(headers, "Webhook-Id")

    def event_type(self, payload: Any, headers: Headers) -> str:
        return self._pick(headers, "Topic") or ""
