"""Endpoints: health at a glance, secrets and credentials masked, and the operator actions.

Only users with the ``view_endpoint_secret`` permission reveal the signing secret
and see the values of extra headers and the URL's password and query string in
full; the others see them as ``********``, and a masked value saved unchanged keeps
the stored one.

This module holds the list and the change page; the health columns' query is in
:mod:`~webhooks_app.admin.endpoint_health`, the form in
:mod:`~webhooks_app.admin.endpoint_form`, the actions in
:mod:`~webhooks_app.admin.endpoint_actions` and the page that reveals the secret in
:mod:`~webhooks_app.admin.endpoint_secret`.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from webhooks_app import conf, redaction
from webhooks_app.admin import display, tenants
from webhooks_app.admin.catalog import CatalogAdminMixin, deprecated_note
from webhooks_app.admin.endpoint_actions import EndpointActionsMixin, disabled_by
from webhooks_app.admin.endpoint_form import EndpointForm
from webhooks_app.admin.endpoint_health import (
    SUCCESS_RATE,
    HealthAnnotated,
    annotate_health,
    recent_tries_html,
    state_html,
)
from webhooks_app.admin.endpoint_secret import SecretPageMixin
from webhooks_app.admin.endpoint_stats import EndpointStatsMixin
from webhooks_app.admin.filters import HealthFilter, SubscriptionFilter, tenant_filter
from webhooks_app.models import Endpoint
from webhooks_app.sending import contacts

# The form's fields that make an endpoint's event types (see EndpointForm).
EVENT_TYPE_FIELDS = ("all_types", "event_types", "patterns")

# The largest number of event-type patterns listed in one cell.
MAX_TYPES_SHOWN = 4

# Characters of a disabled endpoint's reason shown in the list (all of it in a tooltip).
REASON_SHOWN = 80


def unknown_tenant_warning(key: str) -> str:
    return gettext(
        "No other endpoint or event belongs to tenant “%(tenant)s”: check that the key is "
        "the one your project sends events for (a typo orphans the endpoint)."
    ) % {"tenant": key}


def _clock(moment) -> str:
    """A time with seconds (cool-downs are seconds long), with its date unless today."""
    local = timezone.localtime(moment)
    same_day = local.date() == timezone.localdate()
    return date_format(local, "H:i:s" if same_day else "Y-m-d H:i:s")


def _circuit(obj: Endpoint) -> str:
    """Closed, or open since when (after a run of failures, or on its failure rate), and
    when its next probe may go out."""
    state = obj.circuit_state
    if state == "closed":
        if obj.paused_until and obj.paused_until > timezone.now():
            return gettext("closed; paused until %(time)s (Retry-After or rate limit)") % {
                "time": _clock(obj.paused_until)
            }
        return gettext("closed")
    if state == "open":
        if obj.circuit_failures >= conf.get("CIRCUIT_BREAKER_THRESHOLD"):
            return gettext(
                "open since %(since)s after %(count)d timeouts or errors in a row; "
                "next probe at %(probe)s"
            ) % {
                "since": _clock(obj.circuit_opened_at),
                "count": obj.circuit_failures,
                "probe": _clock(obj.paused_until),
            }
        return gettext("open since %(since)s on its failure rate; next probe at %(probe)s") % {
            "since": _clock(obj.circuit_opened_at),
            "probe": _clock(obj.paused_until),
        }
    return gettext("half-open since %(since)s: one probe at a time") % {
        "since": _clock(obj.circuit_opened_at)
    }


@admin.register(Endpoint)
class EndpointAdmin(
    display.ListStylesMixin,
    EndpointActionsMixin,
    SecretPageMixin,
    CatalogAdminMixin,
    EndpointStatsMixin,
    admin.ModelAdmin,
):
    empty_value_display = display.EMPTY
    list_display = (
        "url_display",
        "state",
        "event_types_display",
        "last_day_display",
        "last_status",
        "tenant_display",  # last, so that sort links (?o=N) kept their meaning
    )
    list_display_links = ("url_display",)
    form = EndpointForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_filter = ("is_active", HealthFilter, SubscriptionFilter, tenant_filter(Endpoint))
    search_fields = ("url", "description", "=tenant")
    add_fieldsets = (
        (
            None,
            {
                "fields": (
                    "url",
                    "description",
                    "contact_email",
                    "tenant",
                    "secret",
                    *EVENT_TYPE_FIELDS,
                    "headers",
                    "rate_limit",
                )
            },
        ),
        (None, {"fields": ("is_active",)}),
    )
    health_fields = (
        "state",
        "circuit",
        "failure_streak",
        "failing_since",
        "statistics",
        "tries_chart",
        "deliveries_link",
        "created_at",
        "updated_at",
    )

    # --- the list -------------------------------------------------------------

    def get_queryset(self, request):
        return annotate_health(super().get_queryset(request))

    @admin.display(description=_("URL"), ordering="url")
    def url_display(self, obj: Endpoint):
        url = redaction.mask_url(obj.url)
        if obj.description:
            return format_html('{}<br><span class="quiet">{}</span>', url, obj.description)
        return url

    @admin.display(description=_("tenant"), ordering="tenant")
    def tenant_display(self, obj: Endpoint):
        return display.tenant(obj.tenant)

    @admin.display(description=_("state"), ordering="is_active")
    def state(self, obj: Endpoint):
        return state_html(obj)

    @admin.display(description=_("circuit breaker"))
    def circuit(self, obj: Endpoint):
        """Closed, or open since when, and when its next probe may go out; below, the
        failure rate it reads (its recent tries: a window of seconds, not the day's)."""
        return format_html_join(
            mark_safe("<br>"),
            "{}",
            ((line,) for line in (_circuit(obj), recent_tries_html(obj)) if line),
        )

    @admin.display(description=_("event types"))
    def event_types_display(self, obj: Endpoint):
        types = obj.event_types or []
        if not isinstance(types, list):  # stored by .update(), past validation
            return format_html("<code>{}</code>", repr(types))
        types = [str(pattern) for pattern in types]
        if not types:
            return gettext("all")
        shown = ", ".join(types[:MAX_TYPES_SHOWN])
        if len(types) > MAX_TYPES_SHOWN:
            more = ngettext("%(count)d more", "%(count)d more", len(types) - MAX_TYPES_SHOWN)
            shown += " " + gettext("and %(more)s") % {
                "more": more % {"count": len(types) - MAX_TYPES_SHOWN}
            }
        return format_html("{}{}", shown, deprecated_note(obj))

    @admin.display(description=_("last 24 h"), ordering=SUCCESS_RATE)
    def last_day_display(self, obj: HealthAnnotated):
        """Deliveries of the last 24 hours and the share of the finished ones that succeeded."""
        count = ngettext("%(count)d delivery", "%(count)d deliveries", obj.deliveries_24h) % {
            "count": obj.deliveries_24h
        }
        if not obj.succeeded_24h + obj.failed_24h:
            return count
        return format_html("{}<br>{}", count, self.success_rate_display(obj))

    def success_rate_display(self, obj: HealthAnnotated):
        finished = obj.succeeded_24h + obj.failed_24h
        if not finished:
            return display.EMPTY
        rate = 100 * obj.succeeded_24h / finished
        tone = "succeeded" if rate >= 99 else "pending" if rate >= 90 else "failed"
        return format_html(
            '{} <span class="quiet">({}/{})</span>',
            display.badge(tone, f"{rate:.0f} %" if rate in (0, 100) else f"{rate:.1f} %"),
            obj.succeeded_24h,
            finished,
        )

    @admin.display(description=_("last status"), ordering="failure_streak")
    def last_status(self, obj: HealthAnnotated):
        """The latest try's answer, and the failures in a row when there are any."""
        status = display.http_status(
            obj.last_status_code, obj.last_error or "", obj.last_error_type or ""
        )
        if not obj.failure_streak:
            return status
        streak = ngettext(
            "%(count)d failure in a row", "%(count)d failures in a row", obj.failure_streak
        ) % {"count": obj.failure_streak}
        return format_html("{}<br>{}", status, display.badge("failed", streak))

    # --- the change page ----------------------------------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"show_secrets": self.may_see_secrets(request)})

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        secret_fields = ("masked_secret", "previous_secret_display")
        if self.may_see_secrets(request):
            secret_fields = ("secret_display", "previous_secret_display")
        url, tenant, types, headers = "url", "tenant", EVENT_TYPE_FIELDS, "headers"
        if not self.has_change_permission(request, obj):
            tenant, types = "tenant_display", ("event_types_display",)  # names, read-only
            if not self.may_see_secrets(request):
                url, headers = "masked_url", "masked_headers"  # read-only ones show the model's
        return (
            (
                None,
                {
                    "fields": (
                        url,
                        "description",
                        "contact_email",
                        "contact_email_confirmed",
                        tenant,
                        *types,
                        headers,
                        "rate_limit",
                        "is_active",
                    )
                },
            ),
            (
                _("Signing secret"),
                {
                    "fields": secret_fields,
                    "description": _(
                        "Receivers verify each delivery's signature with this secret. The "
                        "“Rotate the secret” button at the top of this page replaces it: the "
                        "previous secret keeps signing during a grace period."
                    ),
                },
            ),
            (_("Health"), {"fields": self.health_fields}),
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (
            "contact_email_confirmed",
            "secret_display",
            "masked_secret",
            "masked_url",
            "masked_headers",
            "previous_secret_display",
            *self.health_fields,
        )

    @admin.display(description=_("contact e-mail confirmed"), boolean=True)
    def contact_email_confirmed(self, obj: Endpoint) -> bool | None:
        """None (shown as unknown) without an address."""
        return obj.contact_email_confirmed if obj.contact_email else None

    @admin.display(description=_("URL"))
    def masked_url(self, obj: Endpoint):
        return redaction.mask_url(obj.url)

    @admin.display(description=_("extra headers"))
    def masked_headers(self, obj: Endpoint):
        headers = obj.headers
        return display.pretty_json(
            redaction.mask_headers(headers) if isinstance(headers, dict) else headers
        )

    @admin.display(description=_("secret"))
    def masked_secret(self, obj: Endpoint):
        return format_html("<code>{}</code>", display.mask_secret(obj.secret))

    @admin.display(description=_("previous secret"))
    def previous_secret_display(self, obj: Endpoint):
        expires = obj.previous_secret_expires_at
        if not obj.previous_secret or not expires or expires <= timezone.now():
            return display.EMPTY
        return format_html(
            "<code>{}</code> {}",
            display.mask_secret(obj.previous_secret),
            gettext("also signs deliveries until %(time)s")
            % {"time": timezone.localtime(expires).strftime("%Y-%m-%d %H:%M %Z")},
        )

    @admin.display(description=_("last 24 hours"))
    def statistics(self, obj: HealthAnnotated):
        return format_html(
            "{} · {} {} · {} {}",
            ngettext("%(count)d delivery", "%(count)d deliveries", obj.deliveries_24h)
            % {"count": obj.deliveries_24h},
            gettext("delivered"),
            self.success_rate_display(obj),
            gettext("last status"),
            self.last_status(obj),
        )

    @admin.display(description=_("deliveries"))
    def deliveries_link(self, obj: Endpoint):
        url = reverse(
            f"admin:{self.opts.app_label}_delivery_changelist", current_app=self.admin_site.name
        )
        return format_html(
            '<a href="{}?{}">{}</a>',
            url,
            urlencode({"endpoint__id__exact": obj.pk}),
            gettext("All deliveries to this endpoint"),
        )

    def save_model(self, request, obj, form, change):
        """Write only what the form changed, never the health columns it loaded (workers
        update them meanwhile); turning ``is_active`` off or on records why and resets
        the health bookkeeping."""
        # An address staff set is confirmed as it is (one a customer sets is mailed a link).
        staff_set = ["confirmed_contact_email"] if "contact_email" in form.changed_data else []
        if staff_set:
            contacts.confirmed_by_staff(obj)
        if "tenant" in form.changed_data and tenants.is_unknown(obj):
            self.message_user(request, unknown_tenant_warning(obj.tenant), messages.WARNING)
        if not change:
            obj.save()
            return
        columns = {field.name for field in obj._meta.concrete_fields}
        changed = [f for f in form.changed_data if f in columns]
        obj.save(update_fields=[*changed, *staff_set, "updated_at"])
        if "is_active" in form.changed_data:
            if obj.is_active:
                obj.enable()
            else:
                obj.disable(disabled_by(request))
