"""Standard Webhooks v1, as this app's sender, Svix and other Standard Webhooks senders sign.

The scheme itself (signed content, key, header format) is :mod:`webhooks_app.signing`,
which the sender uses too; this class reads it from a request's headers.
"""

from __future__ import annotations

import uuid
from typing import Any

from webhooks_app import signing
from webhooks_app.receivers import parsing
from webhooks_app.receivers.messages import Headers
from webhooks_app.receivers.verifiers.base import InvalidSignature, MissingSecret, Verifier, header


class StandardWebhooksVerifier(Verifier):
    """Standard Webhooks v1 (``webhook-*`` headers, or ``svix-*`` as Svix sends them)."""

    name = "standard-webhooks"
    body_format = parsing.JSON
    uses_timestamp = True

    @staticmethod
    def _pick(headers: Headers, suffix: str) -> str:
        value = header(headers, f"webhook-{suffix}") or header(headers, f"svix-{suffix}")
        if not value:
            raise InvalidSignature(f"The webhook-{suffix} header is missing")
        return value

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        msg_id = self._pick(headers, "id")
        timestamp = self._pick(headers, "timestamp")
        signature = self._pick(headers, "signature")
        try:
            signing.verify(
                self.secrets,
                msg_id,
                timestamp,
                body,
                signature,
                tolerance=tolerance,
                now=self.clock(),
            )
        except ValueError as exc:  # a malformed secret is ours, not the sender's, fault
            raise MissingSecret(str(exc)) from exc

    def signed_headers(
        self, body: bytes, *, timestamp: int, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        return signing.headers(self.secrets, msg_id or f"msg_{uuid.uuid4().hex}", body, timestamp)

    def event_id(self, payload: Any, headers: Headers) -> str | None:
        return header(headers, "webhook-id") or header(headers, "svix-id")
