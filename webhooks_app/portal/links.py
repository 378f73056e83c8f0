"""Signed, expiring links into the portal for one tenant (Django's ``signing``).

A link carries the tenant key and the moment it expires, signed with the
project's ``SECRET_KEY`` and a salt of its own, so a token made for anything
else never opens the portal. Nothing is stored: a link stays valid until it
expires, and opening it starts a portal session that ends at the same moment.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.urls import reverse

from webhooks_app import tenancy

SALT = "webhooks_app.portal.link"

# The namespaced name of the view that opens a link (webhooks_app.portal.urls).
ENTER_VIEW = "webhooks_portal:enter"


class InvalidLink(Exception):
    """A link that was tampered with, made for something else, or has expired."""


@dataclass(frozen=True)
class Link:
    tenant: str
    expires_at: float  # a Unix timestamp


def make_token(tenant: Any, *, expires_in: float = 3600) -> str:
    """The signed token of a link for ``tenant`` that expires ``expires_in`` seconds from now."""
    key = tenancy.tenant_key(tenant)
    if not key:
        raise ValueError(
            "The operator's own endpoints are managed by staff; a portal link is for a tenant."
        )
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        raise ValueError("expires_in is a positive number of seconds.")
    expires_at = math.ceil(time.time() + expires_in)  # whole seconds: a shorter token
    return signing.dumps({"t": key, "e": expires_at}, salt=SALT, compress=True)


def read_token(token: str, *, now: float | None = None) -> Link:
    """The link a token stands for; :class:`InvalidLink` if it is not genuine or has expired.

    The expiry is the one signed into the token (links are made with different
    lifetimes), checked here in place of ``loads(max_age=...)``.
    """
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise InvalidLink from None
    if not isinstance(data, dict):
        raise InvalidLink
    tenant, expires_at = data.get("t"), data.get("e")
    if not isinstance(tenant, str) or not tenant or not isinstance(expires_at, int | float):
        raise InvalidLink
    if expires_at <= (time.time() if now is None else now):
        raise InvalidLink
    return Link(tenant, float(expires_at))


def portal_link(tenant: Any, *, expires_in: float = 3600) -> str:
    """The URL path of a link that opens the portal for ``tenant`` for ``expires_in`` seconds.

    ``tenant`` is what ``send_event(tenant=...)`` takes: a string key, a number or
    a model instance. The operator (``""`` or None) has no portal link. Make the
    URL absolute with ``request.build_absolute_uri(portal_link(org))``.
    """
    return reverse(ENTER_VIEW, kwargs={"token": make_token(tenant, expires_in=expires_in)})
