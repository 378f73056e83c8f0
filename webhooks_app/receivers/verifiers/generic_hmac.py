"""``HmacVerifier``: a configurable HMAC of the body, for providers without a class of their own."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from webhooks_app.receivers.messages import Headers
from webhooks_app.receivers.verifiers.base import (
    InvalidSignature,
    Verifier,
    header,
    payload_field,
    payload_path,
    required_header,
)
from webhooks_app.signing import matches_any


class HmacVerifier(Verifier):
    """``HmacVerifier(secret="...", header="X-Signature", algorithm="sha256",
    encoding="hex", prefix="sha256=", id_header="X-Event-Id")``.

    Without an id header or an ``id`` in the payload, the event id is the body's
    SHA-256 (the view's fallback), so identical copies are still processed once.

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

    def _encoded(self, digest: bytes) -> bytes:
        return digest.hex().encode() if self.encoding == "hex" else base64.b64encode(digest)

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        value = required_header(headers, self.header_name).strip()
        if not value.startswith(self.prefix):
            raise InvalidSignature(f"{self.header_name} must start with {self.prefix!r}")
        offered = value[len(self.prefix) :].encode()
        if self.encoding == "hex":
            offered = offered.lower()
        expected = [self._encoded(d) for d in self.digests(body, self.algorithm)]
        if not matches_any(expected, [offered]):
            raise InvalidSignature(f"The {self.header_name} signature does not match")

    def signed_headers(
        self, body: bytes, *, timestamp: int, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        """The signature, and the id and type headers where they are configured."""
        digest = self.digests(body, self.algorithm)[0]
        signed = {self.header_name: self.prefix + self._encoded(digest).decode()}
        if self.id_header:
            signed[self.id_header] = msg_id or str(uuid.uuid4())
        if self.type_header and event_type is not None:
            signed[self.type_header] = event_type
        return signed

    def event_id(self, payload: Any, headers: Headers) -> str | None:
        if self.id_header:
            return header(headers, self.id_header)
        return payload_field(payload, "id")

    def event_type(self, payload: Any, headers: Headers) -> str:
        claimed = header(headers, self.type_header) if self.type_header else None
        if not self.type_field:
            if self.type_header:
                return claimed or ""
            return super().event_type(payload, headers)
        signed = payload_path(payload, self.type_field) or ""
        if claimed is not None and claimed != signed:
            raise InvalidSignature(
                f"{self.type_header} does not match the signed body's {self.type_field!r}"
            )
        return signed
