"""Who may use the API.

Two checks, both on every request:

- ``WEBHOOKS["API_PERMISSION_CLASSES"]`` decides who may use the API at all (staff only
  by default). Its import strings are resolved on every request, so
  ``override_settings`` takes effect at once.
- :class:`ModelPermissions` then requires Django's model permissions for what each
  route does, whatever the setting says: ``view`` to read (``change`` includes it, as
  in the admin), ``add``, ``change`` and ``delete`` to write, and for the actions the
  permissions listed in the view's ``action_permissions``. Revealing a secret needs
  ``webhooks_app.view_endpoint_secret``. An action without an entry is refused.

The customer-facing API (:mod:`webhooks_app.api.tenant_urls`) asks neither: customers
hold no model permissions. :class:`TenantPermission` lets in an authenticated user whose
request ``WEBHOOKS["TENANT_RESOLVER"]`` finds a tenant for, and the views show that
tenant's objects alone.
"""

from __future__ import annotations

from django.apps import apps
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from webhooks_app import conf, tenancy

APP_LABEL = "webhooks_app"

# The permission each standard viewset action needs, by the model's codename prefix.
STANDARD_ACTIONS = {
    "list": "view",
    "retrieve": "view",
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


def configured_permissions() -> list[BasePermission]:
    """Instances of the configured permission classes."""
    return [
        (import_string(path) if isinstance(path, str) else path)()
        for path in conf.get("API_PERMISSION_CLASSES")
    ]


def has_permission(user, permission: str) -> bool:
    """``user.has_perm``, where a model's change permission includes its view permission."""
    if user.has_perm(permission):
        return True
    app_label, _, codename = permission.partition(".")
    action, _, model_name = codename.partition("_")
    if action != "view" or app_label != APP_LABEL:
        return False
    models = {model._meta.model_name for model in apps.get_app_config(APP_LABEL).get_models()}
    return model_name in models and user.has_perm(f"{app_label}.change_{model_name}")


class ModelPermissions(BasePermission):
    """The model permissions a route needs (see the module's docstring).

    Views without a queryset (the API root, the schema) need any one permission of
    the app, as the admin's index lists the app only to those who hold one.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        required = required_permissions(view)
        if required is None:
            return user.has_module_perms(APP_LABEL)
        return all(has_permission(user, permission) for permission in required)


def required_permissions(view) -> list[str] | None:
    """The permissions ``view``'s current action needs; None for views of no model.

    An action missing from ``action_permissions`` needs a permission nobody holds.
    """
    queryset = getattr(view, "queryset", None)
    if queryset is None:
        return None
    model_name = queryset.model._meta.model_name
    action = getattr(view, "action", None)
    if action in STANDARD_ACTIONS:
        return [f"{APP_LABEL}.{STANDARD_ACTIONS[action]}_{model_name}"]
    if action is None:  # OPTIONS: the route's description
        return [f"{APP_LABEL}.view_{model_name}"]
    declared = getattr(view, "action_permissions", {}).get(action)
    if declared is None:
        return [f"{APP_LABEL}.undeclared_action_{action}"]
    return [f"{APP_LABEL}.{codename}" for codename in declared]


class ConfiguredPermissionsMixin:
    """For API views: the configured permissions, then the model permissions."""

    def get_permissions(self) -> list[BasePermission]:
        return [*configured_permissions(), ModelPermissions()]


class TenantPermission(BasePermission):
    """An authenticated user (by DRF's configured authentication) acting for a tenant.

    The view's ``tenant`` is what the resolver found (None: refused with 403). An
    anonymous request is refused before the resolver runs (401 or 403, as DRF's
    authentication classes answer it).
    """

    NO_TENANT = _("This account does not act for a customer of this service.")
    NO_RESOLVER = _('The customer API needs WEBHOOKS["TENANT_RESOLVER"]; none is set.')

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if view.tenant is None:
            self.message = self.NO_RESOLVER if tenancy.resolver() is None else self.NO_TENANT
            return False
        return True
