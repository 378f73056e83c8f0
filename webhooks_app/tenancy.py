"""Tenants: whose endpoints and events these are.

A tenant is a string key that the project chooses (an organisation's pk, a
slug); ``""`` stands for the operator's own endpoints. Code may pass a model
instance instead, which stands for ``str(instance.pk)``. Customer-facing
views ask :func:`resolve` which tenant a request acts for.
"""

from __future__ import annotations

from collections.abc import Callable
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


def _hook(key: str) -> Callable[..., Any] | None:
    """The project's function named by ``WEBHOOKS[key]`` (a dotted path), or None when unset."""
    path = conf.get(key)
    if not path:
        return None
    try:
        return import_string(path)
    except ImportError as exc:
        message = f'WEBHOOKS["{key}"] cannot be imported: {exc}'
        raise ImproperlyConfigured(message) from exc


def resolver():
    """The project's ``WEBHOOKS["TENANT_RESOLVER"]`` function, or None when unset."""
    return _hook("TENANT_RESOLVER")


def resolve(request: HttpRequest) -> str | None:
    """The tenant ``request`` acts for, by the project's resolver; None when there is none.

    The resolver may return a string, a number or a model instance (see
    :func:`tenant_key`); None or False, or no resolver configured, means the
    request acts for no tenant and customer-facing views refuse it. So does ``""``: the
    operator's own endpoints are managed by staff, never through a customer's view.
    """
    function = resolver()
    if function is None:
        return None
    found = function(request)
    key = OPERATOR if found is None or found is False else tenant_key(found)
    return key or None


def label(key: str) -> str:
    """A tenant's name for people, by ``WEBHOOKS["TENANT_LABEL"]``; the key when it names none.

    The operator's own (``""``) is never passed to the project's function. The
    function is called once per tenant shown (a row of a list): keep it cheap.
    """
    function = _hook("TENANT_LABEL")
    if function is None or key == OPERATOR:
        return key
    return str(function(key) or key)


def choices() -> list[tuple[str, str]] | None:
    """Every tenant staff may pick, as (key, name) pairs, by ``WEBHOOKS["TENANT_CHOICES"]``;
    None when the project lists none (then a tenant is typed in)."""
    function = _hook("TENANT_CHOICES")
    if function is None:
        return None
    return [(str(key), str(name)) for key, name in function()]
