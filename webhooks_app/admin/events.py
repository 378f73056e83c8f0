"""Events (read-only) and their deliveries, with every attempt."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import DateFieldListFilter
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from webhooks_app import operations
from webhooks_app.admin import display
from webhooks_app.admin.filters import OrderingKeyFilter, event_type_filter, tenant_filter
from webhooks_app.admin.object_actions import ObjectActionsMixin
from webhooks_app.models import Attempt, Delivery, Endpoint, Event
from webhooks_app.redaction import mask_text
from webhooks_app.sending.ordering import with_earlier_in_key


def with_last_error_type(deliveries: QuerySet[Delivery]) -> QuerySet[Delivery]:
    """Add the latest attempt's ``error_type``: what "last status" names when no answer came."""
    latest = Attempt.objects.filter(delivery=OuterRef("pk")).order_by("-number")
    return deliveries.annotate(last_error_type=Subquery(latest.values("error_type")[:1]))


WithLastErrorType = Any
"""A ``Delivery`` from :func:`with_last_error_type` (the type checker knows no such model)."""


def waiting_reason(delivery: Delivery, now=None) -> str:
    """Why a pending delivery whose time has come has not gone out, or ""."""
    now = now or timezone.now()
    due = delivery.next_attempt_at
    if delivery.status != Delivery.Status.PENDING or due is None or due > now:
        return ""
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        return gettext("waits: its endpoint is disabled (%(reason)s)") % {
            "reason": mask_text(endpoint.disabled_reason) or display.EMPTY
        }
    if delivery.locked_until and delivery.locked_until > now:
        return gettext("in flight: leased until %(time)s") % {
            "time": display.moment(delivery.locked_until)
        }
    if endpoint.paused_until and endpoint.paused_until > now:
        return gettext("waits: its endpoint is paused until %(time)s") % {
            "time": display.moment(endpoint.paused_until)
        }
    if getattr(delivery, "earlier_in_key", False):  # with_earlier_in_key
        return gettext("waits: an earlier event of its ordering key is not done")
    return gettext("due now")


class DeliveryInline(display.ParentPermissionsInline):
    """An event's deliveries, one per endpoint, linking to their attempts."""

    model = Delivery
    fields = (
        "endpoint_link",
        "status_display",
        "attempt_count",
        "last_status",
        "next_attempt_display",
        "finished_display",
    )
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = _("deliveries")

    def get_queryset(self, request):
        deliveries = super().get_queryset(request).select_related("endpoint")
        return with_earlier_in_key(with_last_error_type(deliveries))

    @admin.display(description=_("next attempt"))
    def next_attempt_display(self, obj: Delivery):
        return next_attempt(obj)

    @admin.display(description=_("finished at"))
    def finished_display(self, obj: Delivery):
        return display.moment(obj.finished_at)

    @admin.display(description=_("endpoint"))
    def endpoint_link(self, obj: Delivery):
        return display.admin_link(obj.endpoint)

    @admin.display(description=_("status"))
    def status_display(self, obj: Delivery):
        return display.badge(obj.status, obj.get_status_display())

    @admin.display(description=_("last status"))
    def last_status(self, obj: WithLastErrorType):
        return display.http_status(obj.last_status_code, obj.last_error, obj.last_error_type)


def next_attempt(delivery: Delivery):
    """When the next try is due (to the second), and why it waits when its time is past."""
    if delivery.status != Delivery.Status.PENDING:
        return display.EMPTY
    reason = waiting_reason(delivery)
    when = display.moment(delivery.next_attempt_at)
    if not reason:
        return when
    return format_html('{}<br><span class="quiet">{}</span>', when, reason)


@admin.register(Event)
class EventAdmin(display.ListStylesMixin, admin.ModelAdmin):
    """Events are immutable: nothing to add, change or delete here."""

    empty_value_display = display.EMPTY
    list_display = ("id", "event_type", "deliveries_summary", "created_at", "tenant_display")
    list_filter = (
        event_type_filter(Event),
        tenant_filter(Event),
        ("created_at", DateFieldListFilter),
    )
    search_fields = ("=id", "event_type", "=idempotency_key", "=tenant")
    date_hierarchy = "created_at"
    fields = (
        "id",
        "event_type",
        "tenant_display",
        "idempotency_key",
        "ordering_key_display",
        "created_at",
        "payload_display",
    )
    readonly_fields = fields
    inlines = (DeliveryInline,)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        deliveries = Delivery.objects.filter(event=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                deliveries_total=display.count_of(deliveries, "event"),
                deliveries_succeeded=display.count_of(
                    deliveries.filter(status=Delivery.Status.SUCCEEDED), "event"
                ),
                deliveries_failed=display.count_of(
                    deliveries.filter(status=Delivery.Status.FAILED), "event"
                ),
            )
        )

    @admin.display(description=_("tenant"), ordering="tenant")
    def tenant_display(self, obj: Event):
        return display.tenant(obj.tenant)

    @admin.display(description=_("deliveries"))
    def deliveries_summary(self, obj: Any):  # annotated with the delivery counts
        if not obj.deliveries_total:
            return display.EMPTY
        pending = obj.deliveries_total - obj.deliveries_succeeded - obj.deliveries_failed
        parts = [
            (Delivery.Status.SUCCEEDED, obj.deliveries_succeeded),
            (Delivery.Status.FAILED, obj.deliveries_failed),
            (Delivery.Status.PENDING, pending),
        ]
        return format_html(
            " · ".join(["{}"] * sum(1 for _status, count in parts if count)),
            *(display.badge(status, f"{count} {status.label}") for status, count in parts if count),
        )

    @admin.display(description=_("payload"))
    def payload_display(self, obj: Event):
        return display.pretty_json(obj.payload)

    @admin.display(description=_("ordering key"))
    def ordering_key_display(self, obj: Event):
        return obj.ordering_key or display.EMPTY


class AttemptInline(display.ParentPermissionsInline):
    """Every HTTP try of a delivery: the audit trail."""

    model = Attempt
    fields = (
        "number",
        "created_display",
        "trigger",
        "status_display",
        "duration",
        "error_display",
        "response_body_display",
    )
    readonly_fields = fields
    ordering = ("number",)

    @admin.display(description=_("created at"))
    def created_display(self, obj: Attempt):
        return display.moment(obj.created_at)

    @admin.display(description=_("status code"))
    def status_display(self, obj: Attempt):
        return display.http_status(obj.status_code, obj.error, obj.error_type)

    @admin.display(description=_("duration"))
    def duration(self, obj: Attempt):
        return gettext("%(ms)d ms") % {"ms": obj.duration_ms}

    @admin.display(description=_("error"))
    def error_display(self, obj: Attempt):
        if not obj.error:
            return display.EMPTY
        error = mask_text(obj.error)
        if obj.error_type:
            return format_html("<strong>{}</strong>: {}", obj.error_type, error)
        return error

    @admin.display(description=_("response body"))
    def response_body_display(self, obj: Attempt):
        return display.pre(obj.response_body, limit=display.BODY_PREVIEW)


@admin.register(Delivery)
class DeliveryAdmin(
    display.ListStylesMixin, display.ReadOnlyChangeMixin, ObjectActionsMixin, admin.ModelAdmin
):
    empty_value_display = display.EMPTY
    list_display = (
        "id",
        "event_type",
        "endpoint_link",
        "status_with_attempts",
        "last_status",
        "next_attempt_display",
        "created_display",
        "tenant_display",
    )
    list_filter = (
        "status",
        "endpoint",
        event_type_filter(Event, "event__event_type"),
        tenant_filter(Endpoint, "endpoint__tenant"),
        ("created_at", DateFieldListFilter),
        OrderingKeyFilter,
    )
    list_select_related = ("event", "endpoint")
    search_fields = ("=event__id", "event__event_type", "endpoint__url", "=endpoint__tenant")
    date_hierarchy = "created_at"
    fields = (
        "event_link",
        "event_type",
        "endpoint_link",
        "status_display",
        "attempt_count",
        "ordering_key_display",
        "next_attempt_display",
        "locked_until_display",
        "last_status",
        "last_error_display",
        "created_display",
        "finished_display",
        "payload_display",
    )
    inlines = (AttemptInline,)
    actions = ("retry_now", "cancel")
    object_actions = ("retry_now",)  # a button on the change page

    def object_action_applies(self, obj: Delivery, action: str) -> bool:
        return obj.status != Delivery.Status.SUCCEEDED

    def get_queryset(self, request):
        deliveries = super().get_queryset(request).select_related("event", "endpoint")
        return with_earlier_in_key(with_last_error_type(deliveries))

    # The audit trail, as events are: no delete button or action here (cancel a delivery
    # instead; webhooks_prune deletes old history). Deleting an endpoint still deletes
    # its deliveries, which needs the delete permission this admin keeps.
    def get_actions(self, request, action_location=None):
        # Django 6.1 passes where the actions show (the change list or, new there, the
        # change form) and warns about an override without the parameter; 5.2 passes
        # nothing, and its get_actions() takes no location.
        where = {} if action_location is None else {"action_location": action_location}
        actions = super().get_actions(request, **where)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "show_delete": False}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("next attempt"), ordering="next_attempt_at")
    def next_attempt_display(self, obj: Delivery):
        return next_attempt(obj)

    @admin.display(description=_("status"), ordering="status")
    def status_with_attempts(self, obj: Delivery):
        """The status, and the attempts made under it (one column: the list must fit)."""
        attempts = ngettext("%(count)d attempt", "%(count)d attempts", obj.attempt_count) % {
            "count": obj.attempt_count
        }
        return format_html(
            '{}<br><span class="quiet">{}</span>',
            display.badge(obj.status, obj.get_status_display()),
            attempts,
        )

    @admin.display(description=_("ordering key"))
    def ordering_key_display(self, obj: Delivery):
        """The key, linking to this endpoint's deliveries of the same key."""
        if not obj.ordering_key:
            return display.EMPTY
        query = urlencode(
            [("endpoint__id__exact", obj.endpoint_id), ("ordering_key", obj.ordering_key)]
        )
        url = reverse("admin:webhooks_app_delivery_changelist")
        return format_html('<a href="{}?{}">{}</a>', url, query, obj.ordering_key)

    @admin.display(description=_("leased until"))
    def locked_until_display(self, obj: Delivery):
        return display.moment(obj.locked_until)

    @admin.display(description=_("created at"), ordering="created_at")
    def created_display(self, obj: Delivery):
        return display.moment(obj.created_at)

    @admin.display(description=_("finished at"))
    def finished_display(self, obj: Delivery):
        return display.moment(obj.finished_at)

    @admin.display(description=_("event"), ordering="event")
    def event_link(self, obj: Delivery):
        return display.admin_link(obj.event, obj.event_id)

    @admin.display(description=_("event type"), ordering="event__event_type")
    def event_type(self, obj: Delivery):
        return obj.event.event_type

    @admin.display(description=_("endpoint"), ordering="endpoint__url")
    def endpoint_link(self, obj: Delivery):
        return display.admin_link(obj.endpoint)

    @admin.display(description=_("tenant"), ordering="endpoint__tenant")
    def tenant_display(self, obj: Delivery):
        return display.tenant(obj.endpoint.tenant)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: Delivery):
        return display.badge(obj.status, obj.get_status_display())

    @admin.display(description=_("last status"), ordering="last_status_code")
    def last_status(self, obj: WithLastErrorType):
        return display.http_status(obj.last_status_code, obj.last_error, obj.last_error_type)

    @admin.display(description=_("last error"))
    def last_error_display(self, obj: Delivery):
        return display.pre(mask_text(obj.last_error))

    @admin.display(description=_("payload"))
    def payload_display(self, obj: Delivery):
        return display.pretty_json(obj.event.payload)

    @admin.action(description=_("Retry now"), permissions=["change"])
    def retry_now(self, request, queryset):
        selected = len(queryset)
        count = operations.retry_deliveries(queryset)
        message = ngettext(
            "Retrying %(count)d delivery now.", "Retrying %(count)d deliveries now.", count
        ) % {"count": count}
        if selected > count:
            message += " " + ngettext(
                "%(count)d had succeeded already and was left alone.",
                "%(count)d had succeeded already and were left alone.",
                selected - count,
            ) % {"count": selected - count}
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)

    @admin.action(description=_("Cancel"), permissions=["change"])
    def cancel(self, request, queryset):
        selected = len(queryset)
        reason = gettext("Cancelled by %(user)s in the admin") % {
            "user": request.user.get_username()
        }
        count = operations.cancel_deliveries(queryset, reason=reason)
        message = ngettext(
            "Cancelled %(count)d pending delivery.",
            "Cancelled %(count)d pending deliveries.",
            count,
        ) % {"count": count}
        if selected > count:
            message += " " + ngettext(
                "%(count)d was not pending and was left alone.",
                "%(count)d were not pending and were left alone.",
                selected - count,
            ) % {"count": selected - count}
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)
