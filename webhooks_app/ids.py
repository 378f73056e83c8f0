"""Identifiers for events: URL-safe, unique and sortable by creation time; and their
sequence numbers, which order the events of one ordering key."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

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


class Sequence:
    """Numbers that increase in call order and stay close to ``clock`` (nanoseconds).

    Each is ``max(clock(), last + 1)``: within a process they increase in call
    order whatever the clock does (a step back, two calls in one tick); across
    processes they follow the wall clock, as far as the machines' clocks agree.
    """

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._clock(), self._last + 1)
            return self._last


_sequence = Sequence()


def next_sequence() -> int:
    """This process's next sequence number (see :class:`Sequence`): the order of the
    events of one ordering key."""
    return _sequence.next()
