"""Signature verifiers for inbound webhooks, one class per provider.

Pure logic: no Django and no HTTP. A verifier checks the raw body against the
request headers and raises :class:`InvalidSignature` if anything is off; it
also knows where its provider puts the event id and type. Every secret may be
a string or a list of strings (any of them may match, for rotation), and
every comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from webhooks_app import signing
from webhooks_app.signing import InvalidSignature

__all__ = [
    "GitHubVerifier",
    "HmacVerifier",
    "InvalidSignature",
    "MissingSecret",
    "ShopifyVerifier",
    "SlackVerifier",
    "StandardWebhooksVerifier",
    "StripeVerifier",
    "Verifier",
]

Headers = Mapping[str, str]


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


def _hmac(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def _matches_any(expected: Iterable[bytes], offered: Iterable[bytes]) -> bool:
    """Constant-time comparison of every expected value with every offered one."""
    offered = list(offered)
    results = [hmac.compare_digest(e, o) for e in expected for o in offered]
    return any(results)


class Verifier:
    """Base class: secrets, tolerance and the provider's id and type rules.

    Subclasses implement :meth:`check`. ``tolerance`` (seconds) applies to
    providers that sign a timestamp; None means the ``default_tolerance`` the
    receiving view passes (``WEBHOOKS["SIGNATURE_TOLERANCE"]``), else 300.
    """

    name = "generic"
    uses_timestamp = False

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

    def verify(self, body: bytes, headers: Headers, *, default_tolerance: float = 300) -> None:
        """Raise InvalidSignature unless ``body`` is signed with one of the secrets."""
        if not self.secrets:
            raise MissingSecret(f"{type(self).__name__} has no secret configured")
        tolerance = self.tolerance if self.tolerance is not None else default_tolerance
        self.check(body, headers, tolerance)

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        raise NotImplementedError

    def check_timestamp(self, timestamp: str, tolerance: float) -> int:
        value = signing.parse_timestamp(timestamp)
        if abs(self.clock() - value) > tolerance:
            raise InvalidSignature("The signed timestamp is outside the tolerance")
        return value

    def event_id(self, payload: Any, headers: Headers) -> str | None:
        return _get(payload, "id")

    def event_type(self, payload: Any, headers: Headers) -> str:
        return _get(payload, "type") or ""


def _get(payload: Any, key: str) -> str | None:
    if isinstance(payload, Mapping) and payload.get(key) not in (None, ""):
        return str(payload[key])
    return None


def _get_path(payload: Any, path: str) -> str | None:
    """``_get`` along a dotted path: ``"event.name"`` is ``payload["event"]["name"]``."""
    *parents, last = path.split(".")
    for key in parents:
        payload = payload.get(key) if isinstance(payload, Mapping) else None
    return _get(payload, last)


class StandardWebhooksVerifier(Verifier):
    """Standard Webhooks v1 (``webhook-*`` headers, or ``svix-*`` as Svix sends them)."""

    name = "standard-webhooks"
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

    def event_id(self, payload: Any, headers: Headers) -> str | None:
        return header(headers, "webhook-id") or header(headers, "svix-id")


class StripeVerifier(Verifier):
    """``Stripe-Signature: t=<unix>,v1=<hex>``, keyed with the whole ``whsec_`` string."""

    name = "stripe"
    uses_timestamp = True

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        parts = [p.partition("=") for p in required_header(headers, "Stripe-Signature").split(",")]
        timestamps = [v.strip() for k, _, v in parts if k.strip() == "t"]
        offered = [v.strip().encode() for k, _, v in parts if k.strip() == "v1"]
        if len(timestamps) != 1 or not offered:
            raise InvalidSignature("Stripe-Signature needs one t= and at least one v1=")
        timestamp = timestamps[0]
        self.check_timestamp(timestamp, tolerance)
        message = timestamp.encode() + b"." + body
        expected = [_hmac(s.encode(), message).hex().encode() for s in self.secrets]
        if not _matches_any(expected, offered):
            raise InvalidSignature("No Stripe v1 signature matches")


class GitHubVerifier(Verifier):
    """``X-Hub-Signature-256: sha256=<hex>``; the id is ``X-GitHub-Delivery``."""

    name = "github"

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        algorithm, _, value = required_header(headers, "X-Hub-Signature-256").partition("=")
        if algorithm != "sha256" or not value:
            raise InvalidSignature("X-Hub-Signature-256 must be sha256=<hex>")
        expected = [_hmac(s.encode(), body).hex().encode() for s in self.secrets]
        if not _matches_any(expected, [value.strip().encode()]):
            raise InvalidSignature("The GitHub signature does not match")

    def event_id(self, payload: Any, headers: Headers) -> str | None:
        return header(headers, "X-GitHub-Delivery")

    def event_type(self, payload: Any, headers: Headers) -> str:
        event = header(headers, "X-GitHub-Event") or ""
        action = _get(payload, "action")
        return f"{event}.{action}" if event and action else event


class ShopifyVerifier(Verifier):
    """``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the body.

    Shopify sends its headers as ``X-Shopify-*`` and, on newer API versions, as
    ``shopify-*``; both are read. The event id is ``X-Shopify-Event-Id``, which a
    re-sent event keeps (Shopify's duplicate marker), else ``X-Shopify-Webhook-Id``.
    """

    name = "shopify"

    @staticmethod
    def _pick(headers: Headers, suffix: str) -> str | None:
        return header(headers, f"X-Shopify-{suffix}") or header(headers, f"Shopify-{suffix}")

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        value = self._pick(headers, "Hmac-Sha256")
        if not value:
            raise InvalidSignature("The X-Shopify-Hmac-Sha256 header is missing")
        expected = [base64.b64encode(_hmac(s.encode(), body)) for s in self.secrets]
        if not _matches_any(expected, [value.strip().encode()]):
            raise InvalidSignature("The Shopify signature does not match")

    def event_id(self, payload: Any, headers: Headers) -> str | None:
        return self._pick(headers, "Event-Id") or self._pick(headers, "Webhook-Id")

    def event_type(self, payload: Any, headers: Headers) -> str:
        return self._pick(headers, "Topic") or ""


class SlackVerifier(Verifier):
    """``X-Slack-Signature: v0=<hex HMAC of "v0:{timestamp}:{body}">``."""

    name = "slack"
    uses_timestamp = True

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        timestamp = required_header(headers, "X-Slack-Request-Timestamp")
        self.check_timestamp(timestamp, tolerance)
        message = b"v0:" + timestamp.encode() + b":" + body
        expected = [b"v0=" + _hmac(s.encode(), message).hex().encode() for s in self.secrets]
        offered = required_header(headers, "X-Slack-Signature").strip().encode()
        if not _matches_any(expected, [offered]):
            raise InvalidSignature("The Slack signature does not match")

    def event_id(self, payload: Any, headers: Headers) -> str | None:
        # Events API: event_id; slash commands and interactivity: their trigger_id.
        return _get(payload, "event_id") or _get(payload, "trigger_id")

    def challenge(self, payload: Any) -> str | None:
        """The value to echo for Slack's ``url_verification`` handshake, if this is one."""
        if _get(payload, "type") == "url_verification":
            return _get(payload, "challenge")
        return None

    def event_type(self, payload: Any, headers: Headers) -> str:
        inner = payload.get("event") if isinstance(payload, Mapping) else None
        slash_command = "slash_command" if _get(payload, "command") else ""
        return _get(inner, "type") or _get(payload, "type") or slash_command


class HmacVerifier(Verifier):
    """A configurable HMAC of the body, for providers without a verifier of their own.

    ``HmacVerifier(secret="...", header="X-Signature", algorithm="sha256",
    encoding="hex", prefix="sha256=", id_header="X-Event-Id")``. Without an
    id header or an ``id`` in the payload, the event id is the body's SHA-256,
    so identical copies are still processed once.

    The signature covers the body alone, so ``type_header`` is not signed:
    ``type_field`` (a dotted path into the body, ``"type"`` or ``"event.name"``)
    takes the type from the signed body instead; with both, the header must
    agree with the body or the request is refused.
    """

    name = "hmac"

    def __init__(
        self,
        secret: str | Sequence[str] | None = None,
        *,
        header: str = "X-Signature",
        algorithm: str = "sha256",
        encoding: str = "hex",
        prefix: str = "",
        id_header: str | None = None,
        type_header: str | None = None,
        type_field: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(secret, **kwargs)
        if algorithm not in hashlib.algorithms_guaranteed or algorithm.startswith("shake_"):
            raise ValueError(f"Unknown hash algorithm {algorithm!r}")
        if encoding not in ("hex", "base64"):
            raise ValueError("encoding must be 'hex' or 'base64'")
        self.header_name, self.algorithm, self.encoding = header, algorithm, encoding
        self.prefix, self.id_header, self.type_header = prefix, id_header, type_header
        self.type_field = type_field

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        value = required_header(headers, self.header_name).strip()
        if not value.startswith(self.prefix):
            raise InvalidSignature(f"{self.header_name} must start with {self.prefix!r}")
        offered = value[len(self.prefix) :].encode()
        digests = [_hmac(s.encode(), body, self.algorithm) for s in self.secrets]
        if self.encoding == "hex":
            expected = [d.hex().encode() for d in digests]
            offered = offered.lower()
        else:
            expected = [base64.b64encode(d) for d in digests]
        if not _matches_any(expected, [offered]):
            raise InvalidSignature(f"The {self.header_name} signature does not match")

    def event_id(self, payload: Any, headers: Headers) -> str | None:
        if self.id_header:
            return header(headers, self.id_header)
        return _get(payload, "id")

    def event_type(self, payload: Any, headers: Headers) -> str:
        claimed = header(headers, self.type_header) if self.type_header else None
        if not self.type_field:
            if self.type_header:
                return claimed or ""
            return super().event_type(payload, headers)
        signed = _get_path(payload, self.type_field) or ""
        if claimed is not None and claimed != signed:
            raise InvalidSignature(
                f"{self.type_header} does not match the signed body's {self.type_field!r}"
            )
        return signed
