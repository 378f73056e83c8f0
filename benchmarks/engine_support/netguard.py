"""Refuse any name lookup or connection target that is not a loopback IP literal.

The benchmark must touch only 127.0.0.1 and ::1. Every Python-level connect
goes through ``socket.getaddrinfo`` (requests, redis-py, kombu), so wrapping
it turns an accidental hostname (a default broker URL, a ``localhost``) into a
loud error instead of a lookup. libpq resolves in C, so the database URL is
checked for a literal address separately (``services.loopback_only``).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_original = socket.getaddrinfo


def is_loopback_literal(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    try:
        return ipaddress.ip_address(str(host).strip("[]")).is_loopback
    except ValueError:
        return False


def _guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None and not is_loopback_literal(host):
        raise OSError(f"benchmark network guard: refusing to resolve {host!r} (loopback only)")
    return _original(host, *args, **kwargs)


def install() -> None:
    socket.getaddrinfo = _guarded
