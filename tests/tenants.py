"""Tenant resolvers for the tests (``WEBHOOKS["TENANT_RESOLVER"]``)."""

from __future__ import annotations

NOT_CALLABLE = "not a function"


def tenant_from_header(request) -> str | None:
    """The tenant named by an ``X-Tenant`` header: how tests act for a customer."""
    return request.headers.get("X-Tenant")


def tenant_from_user_group(request) -> str | None:
    """The name of the user's first group: a resolver reading ``request.user`` (as DRF
    authenticated it), the way a project reads ``request.user.organisation``."""
    group = request.user.groups.order_by("pk").first()
    return group.name if group else None


NAMES = {"acme": "Acme Inc.", "globex": "Globex Corporation"}


def tenant_name(key: str) -> str:
    """A tenant's display name (``WEBHOOKS["TENANT_LABEL"]``): how a project names its
    organisations in the admin."""
    return NAMES.get(key, "")


def tenant_choices() -> list[tuple[str, str]]:
    """Every tenant, for the admin's form (``WEBHOOKS["TENANT_CHOICES"]``)."""
    return sorted(NAMES.items())


def no_tenant_false(request) -> bool:
    """A resolver that answers ``False`` for "no tenant" (as some projects write it)."""
    return False
