"""Which customer a request to the customer-facing webhooks API acts for.

``WEBHOOKS["TENANT_RESOLVER"]`` points here. The demo has no organisations, so a
user's first group stands for the customer it works for (a model instance stands
for its pk). A SaaS would return something like ``request.user.organisation``.
"""

from __future__ import annotations

from django.contrib.auth.models import Group


def customer_of(request) -> Group | None:
    """The customer ``request.user`` (as the REST framework authenticated it) acts for."""
    return request.user.groups.order_by("pk").first()
