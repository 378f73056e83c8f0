"""Endpoints: health at a glance, secrets and credentials masked, and the operator actions.

Only users with the ``view_endpoint_secret`` permission reveal the signing secret
and see the values of extra headers and the URL's password and query string in
full; the others see them as ``********``, and a masked value saved unchanged keeps
the stored one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import F, FloatField, OrderBy, OuterRef, QuerySet, Subquery
from django.db.models.functions import Cast, NullIf
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from webhooks_app import conf, operations, redaction
from webhooks_app.admin import display
from webhooks_app.admin.catalog import CatalogAdminMixin, deprecated_note
from webhooks_app.admin.filters import HealthFilter, SubscriptionFilter, tenant_filter
from webhooks_app.models import Attempt, Delivery, Endpoint

# Shown on the list: how far back the delivery statistics look.
WINDOW = timedelta(hours=24)

# The largest number of event-type patterns listed in one cell.
MAX_TYPES_SHOWN = 4

# Characters of a disabled endpoint's reason shown in the list (all of it in a tooltip).
REASON_SHOWN = 80


def annotate_health(queryset: QuerySet[Endpoint], now=None) -> QuerySet[Endpoint]:
    """Add the last 24 hours' delivery counts and the latest tried delivery's outcome.

    One scalar subquery per value, each an index range scan on
    ``(endpoint, -created_at)``: the list costs the same number of queries
    whatever the number of endpoints and deliveries.
    """
    since = (now or timezone.now()) - WINDOW
    recent = Delivery.objects.filter(endpoint=OuterRef("pk"), created_at__gte=since)

    def latest(endpoint: OuterRef) -> QuerySet[Delivery]:
        return Delivery.objects.filter(endpoint=endpoint, attempt_count__gt=0).order_by(
            "-created_at", "-pk"
        )

    # The latest delivery's own latest attempt (by its unique (delivery, number) index),
    # so the error type goes with the status and error shown beside it.
    latest_attempt = Attempt.objects.filter(
        delivery=Subquery(latest(OuterRef(OuterRef("pk"))).values("pk")[:1])
    ).order_by("-number")
    return queryset.annotate(
        deliveries_24h=display.count_of(recent, "endpoint"),
        succeeded_24h=display.count_of(recent.filter(status=Delivery.Status.SUCCEEDED), "endpoint"),
        failed_24h=display.count_of(recent.filter(status=Delivery.Status.FAILED), "endpoint"),
        last_status_code=Subquery(latest(OuterRef("pk")).values("last_status_code")[:1]),
        last_error=Subquery(latest(OuterRef("pk")).values("last_error")[:1]),
        last_error_type=Subquery(latest_attempt.values("error_type")[:1]),
    )


HealthAnnotated = Any
"""An ``Endpoint`` with :func:`annotate_health`'s values (``deliveries_24h``, ...); the
type checker knows no model with them."""


# Finished deliveries that succeeded, in per cent (NULL without any); none sort last.
SUCCESS_RATE = OrderBy(
    Cast(F("succeeded_24h"), FloatField())
    * 100.0
    / NullIf(F("succeeded_24h") + F("failed_24h"), 0),
    nulls_last=True,
)


def _clock(moment) -> str:
    """A time with seconds (cool-downs are seconds long), with its date unless today."""
    local = timezone.localtime(moment)
    same_day = local.date() == timezone.localdate()
    return date_format(local, "H:i:s" if same_day else "Y-m-d H:i:s")


class EndpointForm(forms.ModelForm):
    """The endpoint form, validated by the model; credentials masked unless ``show_secrets``."""

    show_secrets = True  # EndpointAdmin.get_form sets it for the request's user

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None or self.show_secrets:
            return
        if "url" in self.fields:
            self.initial["url"] = redaction.mask_url(self.instance.url)
        if "headers" in self.fields and isinstance(self.instance.headers, dict):
            self.initial["headers"] = redaction.mask_headers(self.instance.headers)

    def clean_url(self):
        url = self.cleaned_data["url"]
        return redaction.unmask_url(url, self.instance.url) if self.instance.pk else url

    def clean_headers(self):
        headers = self.cleaned_data["headers"]
        if self.instance.pk is None:
            return headers
        return redaction.unmask_headers(headers, self.instance.headers)


@admin.register(Endpoint)
class EndpointAdmin(display.ListStylesMixin, CatalogAdminMixin, admin.ModelAdmin):
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
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        models.JSONField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 60})},
    }
    list_filter = ("is_active", HealthFilter, SubscriptionFilter, tenant_filter(Endpoint))
    search_fields = ("url", "description", "=tenant")
    actions = (
        "send_test_event",
        "rotate_secret",
        "enable",
        "disable",
        "retry_failed_deliveries",
    )
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
                    "event_types",
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
        if obj.is_active and obj.circuit_state != "closed":
            probe = gettext("next probe at %(time)s") % {"time": _clock(obj.paused_until)}
            return format_html(
                '{}<br><span class="quiet">{}</span>',
                display.badge("pending", gettext("Active, circuit open")),
                probe if obj.circuit_state == "open" else gettext("probing"),
            )
        if obj.is_active:
            return display.badge("succeeded", gettext("Active"))
        reason = obj.disabled_reason or display.EMPTY
        return format_html(
            '{}<br><span class="quiet" style="display: inline-block; min-width: 8em;" '
            'title="{}">{}</span>',
            display.badge("failed", gettext("Disabled")),
            reason,
            reason if len(reason) <= REASON_SHOWN else reason[: REASON_SHOWN - 1] + "…",
        )

    @admin.display(description=_("circuit breaker"))
    def circuit(self, obj: Endpoint):
        """Closed, or open since when, and when its next probe may go out."""
        state = obj.circuit_state
        if state == "closed":
            if obj.paused_until and obj.paused_until > timezone.now():
                return gettext("closed; paused until %(time)s (Retry-After or rate limit)") % {
                    "time": _clock(obj.paused_until)
                }
            return gettext("closed")
        if state == "open":
            return gettext(
                "open since %(since)s after %(count)d timeouts or errors in a row; "
                "next probe at %(probe)s"
            ) % {
                "since": _clock(obj.circuit_opened_at),
                "count": obj.circuit_failures,
                "probe": _clock(obj.paused_until),
            }
        return gettext("half-open since %(since)s: one probe at a time") % {
            "since": _clock(obj.circuit_opened_at)
        }

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

    def may_see_secrets(self, request) -> bool:
        return redaction.may_see_secrets(request.user)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        secret_fields = ("masked_secret", "previous_secret_display")
        if self.may_see_secrets(request):
            secret_fields = ("secret_display", "previous_secret_display")
        url, headers = "url", "headers"
        if not self.has_change_permission(request, obj) and not self.may_see_secrets(request):
            url, headers = "masked_url", "masked_headers"  # read-only fields show the model's
        return (
            (
                None,
                {
                    "fields": (
                        url,
                        "description",
                        "contact_email",
                        "tenant",
                        "event_types",
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
                        "Receivers verify each delivery's signature with this secret. Use the "
                        "“Rotate the secret” action of the list to replace it: the previous "
                        "secret keeps signing during a grace period."
                    ),
                },
            ),
            (_("Health"), {"fields": self.health_fields}),
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (
            "secret_display",
            "masked_secret",
            "masked_url",
            "masked_headers",
            "previous_secret_display",
            *self.health_fields,
        )

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

    @admin.display(description=_("secret"))
    def secret_display(self, obj: Endpoint):
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_secret",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )
        return format_html(
            '<code>{}</code> &nbsp; <a href="{}">{}</a>',
            display.mask_secret(obj.secret),
            url,
            gettext("Reveal"),
        )

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
            gettext("success rate"),
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
        if not change:
            obj.save()
            return
        columns = {field.name for field in obj._meta.concrete_fields}
        obj.save(update_fields=[*(f for f in form.changed_data if f in columns), "updated_at"])
        if "is_active" in form.changed_data:
            if obj.is_active:
                obj.enable()
            else:
                obj.disable(disabled_by(request))

    # --- revealing the secret -------------------------------------------------

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_secret"
        return [
            path(
                "<path:object_id>/secret/",
                self.admin_site.admin_view(self.secret_view),
                name=name,
            ),
            *super().get_urls(),
        ]

    def secret_view(self, request, object_id):
        """Show the full secret to staff with ``view_endpoint_secret``; logged in its history."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not (self.has_view_or_change_permission(request, obj) and self.may_see_secrets(request)):
            raise PermissionDenied
        self.log_change(request, obj, gettext("Revealed the signing secret."))
        expires = obj.previous_secret_expires_at
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Signing secret"),
            "subtitle": str(obj),
            "opts": self.opts,
            "original": obj,
            "secret": obj.secret,
            "previous_secret": obj.previous_secret if expires and expires > timezone.now() else "",
            "previous_secret_expires_at": expires,
            **display.object_page_context(self, obj, gettext("Signing secret")),
        }
        return TemplateResponse(request, "admin/webhooks_app/endpoint/secret.html", context)

    # --- actions ----------------------------------------------------------------

    def has_send_test_permission(self, request) -> bool:
        """A test event is an event: sending one needs ``add_event``."""
        return request.user.has_perm(f"{self.opts.app_label}.add_event")

    def has_retry_permission(self, request) -> bool:
        """Retrying changes deliveries: ``change_delivery``, as in the deliveries' admin."""
        return request.user.has_perm(f"{self.opts.app_label}.change_delivery")

    @admin.action(description=_("Send a test event"), permissions=["send_test"])
    def send_test_event(self, request, queryset):
        sent = [operations.send_test_event(endpoint) for endpoint in queryset]
        if len(sent) == 1:
            delivery = sent[0]
            self.message_user(
                request,
                format_html(
                    "{} {}",
                    gettext("Test event %(event)s queued for %(url)s.")
                    % {"event": delivery.event_id, "url": delivery.endpoint},
                    display.admin_link(delivery, gettext("View the delivery")),
                ),
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                ngettext(
                    "Test event queued for %(count)d endpoint.",
                    "Test events queued for %(count)d endpoints.",
                    len(sent),
                )
                % {"count": len(sent)},
                messages.SUCCESS,
            )
        waiting = sum(not delivery.endpoint.is_active for delivery in sent)
        if waiting:
            self.message_user(
                request,
                ngettext(
                    "%(count)d endpoint is disabled: its test delivery waits until it is "
                    "enabled again.",
                    "%(count)d endpoints are disabled: their test deliveries wait until they "
                    "are enabled again.",
                    waiting,
                )
                % {"count": waiting},
                messages.WARNING,
            )

    @admin.action(description=_("Rotate the secret"), permissions=["change"])
    def rotate_secret(self, request, queryset):
        count = operations.rotate_secrets(queryset)
        hours = conf.get("SECRET_ROTATION_GRACE") / 3600
        self.message_user(
            request,
            ngettext(
                "Rotated the secret of %(count)d endpoint; the previous secret also signs "
                "deliveries for %(hours)s hours.",
                "Rotated the secrets of %(count)d endpoints; the previous secrets also sign "
                "deliveries for %(hours)s hours.",
                count,
            )
            % {"count": count, "hours": f"{hours:g}"},
            messages.SUCCESS,
        )

    @admin.action(description=_("Enable"), permissions=["change"])
    def enable(self, request, queryset):
        selected = len(queryset)
        count = operations.enable_endpoints(queryset)
        self._report(
            request,
            count,
            selected,
            ngettext(
                "Enabled %(count)d endpoint; its pending deliveries go out on the next sweep.",
                "Enabled %(count)d endpoints; their pending deliveries go out on the next sweep.",
                count,
            ),
            gettext("%(count)d already active."),
        )

    @admin.action(description=_("Disable"), permissions=["change"])
    def disable(self, request, queryset):
        selected = len(queryset)
        count = operations.disable_endpoints(queryset, disabled_by(request))
        self._report(
            request,
            count,
            selected,
            ngettext("Disabled %(count)d endpoint.", "Disabled %(count)d endpoints.", count),
            gettext("%(count)d already disabled."),
        )

    @admin.action(description=_("Retry failed deliveries"), permissions=["retry"])
    def retry_failed_deliveries(self, request, queryset):
        failed = Delivery.objects.filter(endpoint__in=queryset, status=Delivery.Status.FAILED)
        count = operations.retry_deliveries(failed)
        level = messages.SUCCESS if count else messages.WARNING
        self.message_user(
            request,
            ngettext(
                "Retrying %(count)d failed delivery now.",
                "Retrying %(count)d failed deliveries now.",
                count,
            )
            % {"count": count},
            level,
        )
        if count and queryset.filter(is_active=False).exists():
            self.message_user(
                request,
                gettext("Deliveries to disabled endpoints wait until the endpoint is enabled."),
                messages.WARNING,
            )

    def _report(self, request, count, selected, done, skipped) -> None:
        message = done % {"count": count}
        if selected > count:
            message += " " + skipped % {"count": selected - count}
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)


def disabled_by(request) -> str:
    """The reason recorded when an operator disables an endpoint."""
    return gettext("Disabled by %(user)s in the admin") % {
        "user": request.user.get_username() or gettext("an operator")
    }
