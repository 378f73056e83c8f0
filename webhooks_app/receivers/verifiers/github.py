"""GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC of the body>``."""

from __future__ import annotations

import uuid
from typing import Any

from webhooks_app.receivers import parsing
from webhooks_app.receivers.messages import Headers
from webhooks_app.receivers.verifiers.base import (
    InvalidSignature,
    Verifier,
    header,
    payload_field,
    required_header,
)
from webhooks_app.signing import matches_any


class GitHubVerifier(Verifier):
    """The id is ``X-GitHub-Delivery``; the type ``X-GitHub-Event`` plus ``.action``.

    Neither header is signed (see docs/receiving.md, "What the signature covers").
    """

    name = "github"
    body_format = parsing.JSON_OR_FORM

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        algorithm, _, value = required_header(headers, "X-Hub-Signature-256").partition("=")
        if algorithm != "sha256" or not value:
            raise InvalidSignature("X-Hub-Signature-256 must be sha256=<hex>")
        expected = [d.hex().encode() for d in self.digests(body)]
        if not matches_any(expected, [value.strip().encode()]):
            raise InvalidSignature("The GitHub signature does not match")

    def signed_headers(
        self, body: bytes, *, timestamp: int, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        """``event_type`` is the ``X-GitHub-Event`` header (``push`` when None)."""
        return {
            "X-Hub-Signature-256": "sha256=" + self.digests(body)[0].hex(),
            "X-GitHub-Event": event_type or "push",
            "X-GitHub-Delivery": msg_id or str(uuid.uuid4()),
        }

    def event_id(self, payload: Any, headers: Headers) -> str | None:
        return header(headers, "X-GitHub-Delivery")

    def event_type(self, payload: Any, headers: Headers) -> str:
        event = header(headers, "X-GitHub-Event") or ""
        action = payload_field(payload, "action")
        return f"{event}.{action}" if event and action else event
