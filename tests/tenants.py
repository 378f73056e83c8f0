"""Tenant resolvers for the tests (``WEBHOOKS["TENANT_RESOLVER"]``)."""

from __future__ import annotations

NOT_CALLABLE = "not a function"


def tenant_from_header(request) -> str | None:
    """The tenant named by an ``X-Tenant`` header: how tests act for a customer."""
    return request.headers.get("X-Tenant")
