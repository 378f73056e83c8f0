"""Which merchant a request to the customer-facing webhooks API acts for.

``WEBHOOKS["TENANT_RESOLVER"]`` points here. The demo keeps no merchant model: a
user's first group, by name (``acme``, ``globex``), stands for the merchant it
works for. A SaaS would return something like ``request.user.organisation`` (a
model instance stands for its pk).
"""

from __future__ import annotations


def merchant_of(request) -> str | None:
    """The tenant ``request.user`` (as the REST framework authenticated it) acts for."""
    group = request.user.groups.order_by("pk").first()
    return group.name if group else None
