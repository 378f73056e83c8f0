"""Standard Webhooks v1 signatures, and the primitives every signature scheme shares.

Pure functions: no Django, no HTTP. The signed content is
``"{msg_id}.{timestamp}.{body}"``, the key is the base64-decoded part of a
``whsec_`` secret, and a signature header holds one or more space-separated
``v1,<base64 HMAC-SHA256>`` values (several during secret rotation).

The shared primitives (:func:`hmac_digest`, :func:`matches_any`,
:func:`check_timestamp`) live here, at the bottom of the package, so that the
sender, this scheme and every inbound provider in ``receivers.verifiers`` use
one definition of each.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import time
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SIGNATURE_VERSION = "v1"
# At most 12 ASCII digits (until the year 33658): a longer "timestamp" is hostile, and
# int() of hundreds of digits less a float clock raises OverflowError.
_TIMESTAMP = re.compile(r"-?[0-9]{1,12}")


class InvalidSignature(Exception):
    """A request's signature is missing, malformed, wrong or stale."""


def parse_timestamp(value: str | int) -> int:
    """A signed Unix timestamp as an int; :class:`InvalidSignature` unless it is one."""
    text = str(value).strip()
    if not _TIMESTAMP.fullmatch(text):
        raise InvalidSignature("The signed timestamp is not a whole number of seconds")
    return int(text)


def check_timestamp(value: str | int, *, tolerance: float, now: float) -> int:
    """A signed timestamp within ``tolerance`` seconds of ``now``, either way, as an int.

    Raises :class:`InvalidSignature` for anything else, before any secret is used.
    """
    signed_at = parse_timestamp(value)
    if abs(now - signed_at) > tolerance:
        raise InvalidSignature("The signed timestamp is outside the tolerance")
    return signed_at


def hmac_digest(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    """The raw HMAC of ``message`` under ``key`` with a :mod:`hashlib` algorithm."""
    return hmac.new(key, message, algorithm).digest()


def matches_any(expected: Iterable[bytes], offered: Iterable[bytes]) -> bool:
    """Whether any expected value equals any offered one, compared in constant time.

    Every pair is compared, with no early exit, so the timing tells neither
    which secret of a rotation list nor which offered signature matched.
    """
    offered = list(offered)
    results = [hmac.compare_digest(e, o) for e in expected for o in offered]
    return any(results)


def generate_secret() -> str:
    """A new ``whsec_`` secret holding 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: the base64-decoded part after ``whsec_``."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    encoded += "=" * (-len(encoded) % 4)  # other implementations accept unpadded secrets
    try:
        key = base64.b64decode(encoded, validate=True)
    except ValueError:
        key = b""
    if not key:
        raise ValueError("A webhook secret must be whsec_ followed by non-empty base64")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return one ``v1,<base64>`` signature of ``body`` for this message."""
    content = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac_digest(secret_key(secret), content)
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per secret, space-separated."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_)


# The Standard Webhooks headers every request carries: id, timestamp, signature.
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def headers(
    secrets_: Iterable[str], msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for one request."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    values = (msg_id, str(timestamp), signature_header(secrets_, msg_id, timestamp, body))
    return dict(zip(SIGNATURE_HEADERS, values, strict=True))


def verify(
    secret: str | Iterable[str],
    msg_id: str,
    timestamp: str | int,
    body: bytes,
    signature: str,
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> None:
    """Check a Standard Webhooks signature; raise :class:`InvalidSignature` if it fails.

    ``secret`` may be a list during rotation: any secret matching any ``v1``
    signature in the header is enough. Every secret is compared with every
    signature, in constant time. A malformed secret raises ``ValueError``.
    """
    signed_at = check_timestamp(
        timestamp, tolerance=tolerance, now=time.time() if now is None else now
    )
    offered = [
        value.encode("ascii", "replace")
        for version, _, value in (part.partition(",") for part in signature.split())
        if version == SIGNATURE_VERSION and value
    ]
    if not offered:
        raise InvalidSignature("No v1 signature in the header")
    candidates = [secret] if isinstance(secret, str) else list(secret)
    expected = [
        sign(candidate, msg_id, signed_at, body).partition(",")[2].encode("ascii")
        for candidate in candidates
    ]
    if not matches_any(expected, offered):
        raise InvalidSignature("No signature matches")
