"""Identifiers for events: URL-safe, unique and sortable by creation time."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_event_id(prefix: str = "msg_") -> str:
    """``msg_`` and a ULID-like 26 characters: 48 bits of milliseconds, 80 random bits."""
    millis = int(time.time() * 1000)
    return prefix + _base32(millis, 10) + _base32(secrets.randbits(80), 16)
