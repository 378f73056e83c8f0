"""A verifier that only has ``verify(body, headers)``, seen as a :class:`MessageVerifier`.

Before the Protocol, the receiving view asked a verifier for ``verify``,
``event_id``, ``event_type`` and ``challenge`` one by one, each optional but
the first. Verifiers written that way (and views that override ``verify``) keep
working through :class:`VerifyOnly`, the one place those optional methods are
still looked up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from webhooks_app.receivers import parsing
from webhooks_app.receivers.messages import Headers, MessageVerifier, Parser, VerifiedMessage
from webhooks_app.receivers.verifiers.base import Verifier, parse_by_content_type

__all__ = ["VerifyOnly", "as_message_verifier"]


class VerifyOnly:
    """``check(body, headers)`` raises ``InvalidSignature``; ``rules`` reads the id and type.

    ``rules`` is a :class:`Verifier` (its :meth:`Verifier.read`), or any other
    object, usually the verifier itself: its optional
    ``event_id(payload, headers)``, ``event_type(payload, headers)`` and
    ``challenge(payload)`` (Slack-style handshake: the value to echo) are used
    when present. Without ``event_id`` the view falls back to the body's SHA-256.
    """

    def __init__(self, check: Callable[[bytes, Headers], object], rules: object = None) -> None:
        self.check = check
        self.rules = rules

    def verified(
        self,
        body: bytes,
        headers: Headers,
        *,
        parse: Parser | None = None,
        default_tolerance: float = 300,
    ) -> VerifiedMessage:
        self.check(body, headers)
        body_format = getattr(self.rules, "body_format", parsing.ANY)
        payload = (parse or parse_by_content_type(headers, body_format))(body)
        if isinstance(self.rules, Verifier):
            return self.rules.read(payload, headers)
        event_id = self._ask("event_id", payload, headers)
        challenge = self._ask("challenge", payload)
        return VerifiedMessage(
            id=None if event_id is None else str(event_id),
            type=self._ask("event_type", payload, headers) or "",
            payload=payload,
            handshake=None if challenge is None else {"challenge": challenge},
        )

    def _ask(self, method: str, *args: Any) -> Any:
        found = getattr(self.rules, method, None)
        return found(*args) if callable(found) else None


def as_message_verifier(verifier: Any) -> MessageVerifier:
    """``verifier`` itself when it has ``verified``, else adapted from its ``verify``."""
    if isinstance(verifier, MessageVerifier):
        return verifier
    return VerifyOnly(verifier.verify, rules=verifier)
