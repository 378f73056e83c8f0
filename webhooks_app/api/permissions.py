"""Who may use the API: ``WEBHOOKS["API_PERMISSION_CLASSES"]``, staff only by default.

The import strings are resolved on every request, so ``override_settings``
takes effect at once and nothing is imported before it is needed.
"""

from __future__ import annotations

from django.utils.module_loading import import_string
from rest_framework.permissions import BasePermission

from webhooks_app import conf


def configured_permissions() -> list[BasePermission]:
    """Instances of the configured permission classes."""
    return [
        (import_string(path) if isinstance(path, str) else path)()
        for path in conf.get("API_PERMISSION_CLASSES")
    ]


class ConfiguredPermissionsMixin:
    """For API views: permissions from the ``WEBHOOKS`` settings, read per request."""

    def get_permissions(self) -> list[BasePermission]:
        return configured_permissions()
