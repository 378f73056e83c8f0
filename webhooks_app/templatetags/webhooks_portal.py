"""Template filters of the portal's pages: masked credentials, capped excerpts, states.

Templates that a project overrides keep to the same rules by using them:
``{{ endpoint.url|masked_url }}``, ``{{ attempt.error|masked }}``,
``{{ attempt.response_body|excerpt:300 }}``. Output is plain text, escaped
by the template as usual.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext

from webhooks_app import event_types, redaction, tenancy
from webhooks_app.models import Delivery, Endpoint
from webhooks_app.sending import state

register = template.Library()


@register.filter
def masked_url(url: str) -> str:
    """The URL with its password and query-string values masked."""
    return redaction.mask_url(url or "")


@register.filter
def masked(text: str) -> str:
    """Free text (an error) with URL passwords and query-string values masked."""
    return redaction.mask_text(text or "")


@register.filter
def excerpt(text: str, limit: int = 300) -> str:
    """The first ``limit`` characters, with a note of how many more there are."""
    text = text or ""
    if len(text) <= limit:
        return text
    more = gettext("… (%(count)d more characters)") % {"count": len(text) - limit}
    return f"{text[:limit]}{more}"


@register.filter
def pretty_json(value: Any) -> str:
    """A JSON value, indented (for a <pre> block)."""
    return json.dumps(value, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder)


@register.filter
def catalog_entry(name: str) -> event_types.EventType | None:
    """The registered event type of that name (its description, whether it is deprecated)."""
    return event_types.get(name) if isinstance(name, str) else None


@register.filter
def deprecated_types(patterns) -> list[str]:
    """The deprecated registered types that an endpoint's event types name."""
    return event_types.deprecated_in(patterns)


@register.filter
def status_tone(code: int | None) -> str:
    """``ok`` for a 2xx answer, ``bad`` otherwise: the class of a status badge."""
    return "ok" if code and 200 <= code < 300 else "bad"


@register.filter
def tenant_label(key: str) -> str:
    """The tenant's display name (:func:`webhooks_app.tenancy.label`)."""
    return tenancy.label(key)


@register.filter
def endpoint_state(endpoint: Endpoint) -> state.State:
    """What is going on with the endpoint, why, until when (:mod:`webhooks_app.sending.state`)."""
    return state.describe_endpoint(endpoint, timezone.now())


@register.filter
def delivery_state(delivery: Delivery) -> state.State:
    """The delivery's state and, when pending, when its next try really is."""
    return state.describe_delivery(delivery, delivery.endpoint, timezone.now())


@register.filter
def moment(value: datetime | None) -> str:
    """A time of today as ``15:03:02``, another day's as ``2026-12-08 15:03:02`` (local time)."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    today = local.date() == timezone.localdate()
    return date_format(local, "H:i:s" if today else "Y-m-d H:i:s")
