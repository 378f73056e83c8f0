"""Slack: ``X-Slack-Signature: v0=<hex HMAC of "v0:{timestamp}:{body}">``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhooks_app.receivers import parsing
from webhooks_app.receivers.messages import Headers
from webhooks_app.receivers.verifiers.base import (
    InvalidSignature,
    Verifier,
    payload_field,
    required_header,
)
from webhooks_app.signing import matches_any


class SlackVerifier(Verifier):
    """The Events API, slash commands and interactivity, all signed the same way.

    A verified ``url_verification`` request is a handshake: its ``challenge`` is
    echoed back and nothing is recorded.
    """

    name = "slack"
    body_format = parsing.JSON_OR_FORM
    uses_timestamp = True

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        timestamp = required_header(headers, "X-Slack-Request-Timestamp")
        self.check_timestamp(timestamp, tolerance)
        digests = self.digests(_signed_content(timestamp, body))
        expected = [self._signature(d).encode() for d in digests]
        offered = required_header(headers, "X-Slack-Signature").strip().encode()
        if not matches_any(expected, [offered]):
            raise InvalidSignature("The Slack signature does not match")

    def signed_headers(
        self, body: bytes, *, timestamp: int, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        digest = self.digests(_signed_content(str(timestamp), body))[0]
        return {
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": self._signature(digest),
        }

    @staticmethod
    def _signature(digest: bytes) -> str:
        return "v0=" + digest.hex()

    def event_id(self, payload: Any, headers: Headers) -> str | None:
        # Events API: event_id; slash commands and interactivity: their trigger_id.
        return payload_field(payload, "event_id") or payload_field(payload, "trigger_id")

    def event_type(self, payload: Any, headers: Headers) -> str:
        inner = payload.get("event") if isinstance(payload, Mapping) else None
        slash_command = "slash_command" if payload_field(payload, "command") else ""
        return payload_field(inner, "type") or payload_field(payload, "type") or slash_command

    def handshake(self, payload: Any, headers: Headers) -> dict[str, Any] | None:
        if payload_field(payload, "type") != "url_verification":
            return None
        challenge = payload_field(payload, "challenge")
        return None if challenge is None else {"challenge": challenge}


def _signed_content(timestamp: str, body: bytes) -> bytes:
    return b"v0:" + timestamp.encode() + b":" + body
