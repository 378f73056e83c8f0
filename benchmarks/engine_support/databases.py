"""Django's ``DATABASES`` entry for a benchmark's scratch PostgreSQL database, from its URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def postgres(url: str, **options: Any) -> dict[str, Any]:
    """``postgres://user:password@host:port/name`` as a ``DATABASES`` entry (plus ``options``)."""
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "postgres",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": parts.port or 5432,
        **options,
    }
