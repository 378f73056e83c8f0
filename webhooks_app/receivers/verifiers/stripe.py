"""Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>``, keyed with the whole ``whsec_`` string."""

from __future__ import annotations

from webhooks_app.receivers import parsing
from webhooks_app.receivers.messages import Headers
from webhooks_app.receivers.verifiers.base import InvalidSignature, Verifier, required_header
from webhooks_app.signing import matches_any


class StripeVerifier(Verifier):
    """HMAC-SHA256 of ``"{t}.{body}"``, hex; one ``t=``, one or more ``v1=`` (any may match).

    The event id and type are the payload's ``id`` and ``type``.
    """

    name = "stripe"
    body_format = parsing.JSON
    uses_timestamp = True

    def check(self, body: bytes, headers: Headers, tolerance: float) -> None:
        parts = [p.partition("=") for p in required_header(headers, "Stripe-Signature").split(",")]
        timestamps = [v.strip() for k, _, v in parts if k.strip() == "t"]
        offered = [v.strip().encode() for k, _, v in parts if k.strip() == "v1"]
        if len(timestamps) != 1 or not offered:
            raise InvalidSignature("Stripe-Signature needs one t= and at least one v1=")
        timestamp = timestamps[0]
        self.check_timestamp(timestamp, tolerance)
        expected = [d.hex().encode() for d in self.digests(_signed_content(timestamp, body))]
        if not matches_any(expected, offered):
            raise InvalidSignature("No Stripe v1 signature matches")

    def signed_headers(
        self, body: bytes, *, timestamp: int, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        signatures = [d.hex() for d in self.digests(_signed_content(str(timestamp), body))]
        return {"Stripe-Signature": ",".join([f"t={timestamp}", *(f"v1={s}" for s in signatures)])}


def _signed_content(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + b"." + body
