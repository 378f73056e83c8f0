"""The base of every provider's verifier: secrets, tolerance, and the one verified message.

Pure logic: no Django and no HTTP. A provider is one subclass of :class:`Verifier`
that implements :meth:`Verifier.check` (raise :class:`InvalidSignature` unless the
body is signed) and :meth:`Verifier.signed_headers` (the headers the provider
sends with a body), and overrides where its provider puts the event id and
type. The HMAC, the constant-time comparison over every secret of a rotation
list and the timestamp tolerance come from :mod:`webhooks_app.signing`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from webhooks_app import signing
from webhooks_app.receivers import parsing
from webhooks_app.receivers.messages import Headers, Parser, VerifiedMessage
from webhooks_app.receivers.parsing import parse_body
from webhooks_app.signing import InvalidSignature

__all__ = ["InvalidSignature", "MissingSecret", "Verifier", "header", "required_header"]


class MissingSecret(Exception):
    """A verifier has no secret: a configuration error, never "accept everything"."""


def header(headers: Headers, name: str) -> str | None:
    """A header's value, looked up without regard to case."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def required_header(headers: Headers, name: str) -> str:
    value = header(headers, name)
    if not value:
        raise InvalidSignature(f"The {name} header is missing")
    return value


def parse_by_content_type(headers: Headers, body_format: str = parsing.ANY) -> Parser:
    """The parser for a provider's ``body_format``: for ``any``, the one the
    ``Content-Type`` header asks for (form data, else JSON)."""
    content_type = header(headers, "Content-Type") or ""
    return lambda body: parse_body(body, parsing.read_as(body_format, content_type, body))


def payload_field(payload: Any, key: str) -> str | None:
    """``payload[key]`` as a string, or None when the payload is no object or lacks it."""
    if isinstance(payload, Mapping) and payload.get(key) not in (None, ""):
        return str(payload[key])
    return None


def payload_path(payload: Any, path: str) -> str | None:
    """:func:`payload_field` along a dotted path: ``"event.name"`` reads ``payload.event.name``."""
    *parents, last = path.split(".")
    for key in parents:
        payload = payload.get(key) if isinstance(payload, Mapping) else None
    return payload_field(payload, last)


class Verifier:
    """One provider's signature scheme, both ways: :meth:`verify` and :meth:`sign`.

    ``secret`` is a string or a list of strings (any may match, for rotation).
    ``tolerance`` (seconds) applies to providers that sign a timestamp; None
    means the ``default_tolerance`` the receiving view passes
    (``WEBHOOKS["SIGNATURE_TOLERANCE"]``), else 300. ``clock`` gives the
    current Unix time, for tests.
    """

    name = "generic"
    uses_timestamp = False
    # What the provider sends (parsing.JSON, FORM, JSON_OR_FORM or ANY): a verified body
    # is read by it, not by the sender's Content-Type label (see parsing.read_as).
    body_format = parsing.ANY

    def __init__(
        self,
        secret: str | Sequence[str] | None = None,
        *,
        tolerance: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        raw = [secret] if isinstance(secret, str) else list(secret or [])
        self.secrets: tuple[str, ...] = tuple(s for s in raw if s)
        self.tolerance = tolerance
        self.clock = clock

    def __repr__(self) -> str:  # never show the secrets
        return f"{type(self).__name__}(secrets={len(self.secrets)})"

    # -- receiving -----------------------------------------------------------

    def verified(
        self,
        body: bytes,
        headers: Headers,
        *,
        parse: Parser | None = None,
        default_tolerance: float = 300,
    ) -> VerifiedMessage:
        """The request as a :class:`VerifiedMessage`, once its signature checks out.

        The :class:`~webhooks_app.receivers.messages.MessageVerifier` Protocol: the
        signature is checked on the raw bytes before the body is parsed.
        """
        self.verify(body, headers, default_tolerance=default_tolerance)
        parse = parse or parse_by_content_type(headers, self.body_format)
        return self.read(parse(body), headers)

    def read(self, payload: Any, headers: Headers) -> VerifiedMessage:
        """A verified request's payload and headers, read by the provider's rules."""
        return VerifiedMessage(
            id=self.event_id(payload, headers),
            type=self.event_type(payload, headers),
            payload=payload,
            handshake=self.handshake(payload, headers),
        )

    def verify(self, body: bytes, headers: Headers, *, default_tolerance: float = 300) -> None:
        """Raise InvalidSignature unless ``body`` is signed with one of the secrets."""
        self.require_secrets()
        tolerance = self.tolerance if self.tolerance is not None else default_tolerance
        self.check(body, headers, tolerance)

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        """The provider's rule: raise InvalidSignature unless the headers sign ``body``."""
        raise NotImplementedError

    def check_timestamp(self, timestamp: str, tolerance: float) -> int:
        return signing.check_timestamp(timestamp, tolerance=tolerance, now=self.clock())

    def digests(self, message: bytes, algorithm: str = "sha256") -> list[bytes]:
        """The HMAC of ``message`` under each secret (keyed with its UTF-8 bytes)."""
        return [signing.hmac_digest(s.encode(), message, algorithm) for s in self.secrets]

    def event_id(self, payload: Any, headers: Headers) -> str | None:
        return payload_field(payload, "id")

    def event_type(self, payload: Any, headers: Headers) -> str:
        return payload_field(payload, "type") or ""

    def handshake(self, payload: Any, headers: Headers) -> dict[str, Any] | None:
        """The JSON answer when a verified request is a handshake, not an event."""
        return None

    # -- sending (tests, and the provider's side of the scheme) --------------

    def sign(
        self,
        body: bytes,
        *,
        timestamp: int | None = None,
        msg_id: str | None = None,
        event_type: str | None = None,
    ) -> dict[str, str]:
        """The headers the provider sends with ``body``, signed with this verifier's secrets.

        ``timestamp`` defaults to the clock's now, where the scheme signs one.
        ``msg_id`` and ``event_type`` go where the provider carries them in
        headers (a fresh id is made when None); where the body carries them
        (Stripe, Slack, the Standard Webhooks type) they are left to the body.
        Schemes that hold one signature sign with the first secret; those
        that hold several (Standard Webhooks, Stripe) sign with every secret.
        """
        self.require_secrets()
        signed_at = int(self.clock()) if timestamp is None else int(timestamp)
        return self.signed_headers(body, timestamp=signed_at, msg_id=msg_id, event_type=event_type)

    def signed_headers(
        self, body: bytes, *, timestamp: int, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        """The provider's rule for :meth:`sign`, with the timestamp decided."""
        raise NotImplementedError

    def require_secrets(self) -> tuple[str, ...]:
        if not self.secrets:
            raise MissingSecret(f"{type(self).__name__} has no secret configured")
        return self.secrets
