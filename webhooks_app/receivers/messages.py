"""What a verifier hands the receiving view: one verified message, behind a Protocol.

Pure logic: no Django and no HTTP. The view asks its verifier once, through
:class:`MessageVerifier`, for a :class:`VerifiedMessage`; every verifier in
``receivers.verifiers`` implements it, and a verifier that only has
``verify(body, headers)`` is adapted to it (``verifiers.adapter``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["Headers", "MessageVerifier", "Parser", "VerifiedMessage"]

# The request headers, looked up without regard to case (Django's ``request.headers``).
Headers = Mapping[str, str]
# Turns a verified body into its payload; raises ``parsing.MalformedBody`` (400).
Parser = Callable[[bytes], Any]


@dataclass(frozen=True)
class VerifiedMessage:
    """A request whose signature checked out, read by its provider's rules.

    ``id`` is None when the provider gives no event id (the view then uses the
    body's SHA-256). ``handshake`` is set when the request is a provider's
    handshake rather than an event (Slack's ``url_verification``): the JSON
    object to answer with, and the view records nothing.
    """

    id: str | None
    type: str
    payload: Any
    handshake: dict[str, Any] | None = None


@runtime_checkable
class MessageVerifier(Protocol):
    """What the receiving view asks of its verifier: one call per request.

    ``verified`` raises ``InvalidSignature`` (401) for a missing, wrong or stale
    signature, ``MissingSecret`` (500) when it has no secret, and lets
    ``MalformedBody`` (400) from ``parse`` through. ``parse`` is None to parse
    by the ``Content-Type`` header (``parsing.parse_body``); ``default_tolerance``
    is the tolerance in seconds for signed timestamps when the verifier sets none.
    """

    def verified(
        self,
        body: bytes,
        headers: Headers,
        *,
        parse: Parser | None = None,
        default_tolerance: float = 300,
    ) -> VerifiedMessage: ...
