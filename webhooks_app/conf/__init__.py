"""The ``WEBHOOKS`` settings dict; every key is declared once, in :mod:`.registry`.

Values are read from ``django.conf.settings`` on every access, so
``override_settings(WEBHOOKS=...)`` in tests takes effect at once and nothing is cached
at import time. Unlike Django REST framework's settings object, nothing is cached
between reads and reset on ``setting_changed`` either: deleting a setting under
``override_settings()`` (how Django's docs simulate a missing one) sends no
``setting_changed``, and a cache would keep serving the deleted value.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

from webhooks_app.conf.registry import BY_NAME, DEFAULTS, SETTINGS
from webhooks_app.conf.setting import Setting

__all__ = ["BY_NAME", "DEFAULTS", "SETTINGS", "Setting", "get", "lease_seconds", "timeouts"]


def get(name: str) -> Any:
    """Return the value of ``WEBHOOKS[name]``, or its default."""
    if name not in DEFAULTS:
        raise KeyError(f"Unknown WEBHOOKS setting {name!r}")
    user = getattr(django_settings, "WEBHOOKS", None) or {}
    return user.get(name, DEFAULTS[name])


def timeouts() -> tuple[float, float]:
    """The (connect, read) timeouts; a single number means both."""
    value = get("TIMEOUT")
    if isinstance(value, int | float):
        return (float(value), float(value))
    connect, read = value
    return (float(connect), float(read))


def lease_seconds() -> float:
    """How long a claimed delivery stays leased to one worker."""
    connect, read = timeouts()
    return connect + read + float(get("LEASE_MARGIN"))
