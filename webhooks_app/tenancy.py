"""Tenants: whose endpoints and events these are.

A tenant is a string key that the project chooses (an organisation's pk, a
slug); ``""`` stands for the operator's own endpoints. Code may pass a model
instance instead, which stands for ``str(instance.pk)``. Customer-facing
views ask :func:`resolve` which tenant a request acts for.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.http import HttpRequest
from django.utils.module_loading import import_string

from webhooks_app import conf

OPERATOR = ""
"""The tenant of the operator's own endpoints and events."""

TENANT_MAX_LENGTH = 255


def tenant_key(tenant: Any) -> str:
    """The stored key of ``tenant``: a string as given, a model instance's pk, None the operator's.

    Numbers stand for themselves (``42`` is ``"42"``), so an organisation's pk
    may be passed either way. Anything else is refused, so that a stray object
    never becomes somebody's tenant through its ``str()``.
    """
    if tenant is None:
        return OPERATOR
    if isinstance(tenant, models.Model):
        if tenant.pk is None:
            raise ValueError("An unsaved model instance has no pk to stand for a tenant.")
        return str(tenant.pk)
    if isinstance(tenant, bool) or not isinstance(tenant, str | int):
        raise TypeError(
            f"A tenant is a string key or a model instance, not {type(tenant).__name__}."
        )
    key = str(tenant)
    if len(key) > TENANT_MAX_LENGTH:
        raise ValueError(f"A tenant key is at most {TENANT_MAX_LENGTH} characters.")
    return key


def resolver():
    """The project's ``WEBHOOKS["TENANT_RESOLVER"]`` function, or None when unset."""
    path = conf.get("TENANT_RESOLVER")
    if not path:
        return None
    try:
        return import_string(path)
    except ImportError as exc:
        message = f'WEBHOOKS["TENANT_RESOLVER"] cannot be imported: {exc}'
        raise ImproperlyConfigured(message) from exc


def resolve(request: HttpRequest) -> str | None:
    """The tenant ``request`` acts for, by the project's resolver; None when there is none.

    The resolver may return a string, a number or a model instance (see
    :func:`tenant_key`); None, or no resolver configured, means the request
    acts for no tenant and customer-facing views refuse it. So does ``""``: the
    operator's own endpoints are managed by staff, never through a customer's view.
    """
    function = resolver()
    if function is None:
        return None
    found = function(request)
    key = OPERATOR if found is None else tenant_key(found)
    return key or None


def label(key: str) -> str:
    """The tenant's display name, shown where customers and staff see which tenant this is.

    The key itself for now; a ``TENANT_LABEL`` hook is to come.
    """
    return key
