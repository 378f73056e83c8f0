"""The endpoint change page's statistics: tries by outcome per hour and per day, latency."""

from __future__ import annotations

from django.contrib import admin
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from webhooks_app.models import Endpoint


class EndpointStatsMixin:
    """A read-only field, ``tries_chart``, for the change page's fieldsets: the portal's
    figures and charts (``webhooks_app/endpoint_stats.html``)."""

    @admin.display(description=_("tries by outcome"))
    def tries_chart(self, obj: Endpoint) -> SafeString:
        return render_to_string("webhooks_app/endpoint_stats.html", {"endpoint": obj})
