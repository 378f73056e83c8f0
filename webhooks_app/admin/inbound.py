"""Inbound events: what was received, whether it was processed, and reprocessing."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import DateFieldListFilter
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from webhooks_app import conf
from webhooks_app.admin import display
from webhooks_app.admin.filters import event_type_filter
from webhooks_app.models import InboundEvent
from webhooks_app.receivers.processing import reprocess
from webhooks_app.redaction import kept_headers, mask_text


@admin.register(InboundEvent)
class InboundEventAdmin(display.ListStylesMixin, display.ReadOnlyChangeMixin, admin.ModelAdmin):
    empty_value_display = display.EMPTY
    list_display = (
        "event_id",
        "source",
        "event_type",
        "status_display",
        "duplicates",
        "attempts",
        "received_at",
    )
    list_filter = (
        "source",
        "status",
        event_type_filter(InboundEvent),
        ("received_at", DateFieldListFilter),
    )
    search_fields = ("=event_id", "source", "event_type")
    date_hierarchy = "received_at"
    fields = (
        "source",
        "event_id",
        "event_type",
        "status_display",
        "receiver",
        "processing_attempts",
        "duplicate_count",
        "received_at",
        "processed_at",
        "error_display",
        "payload_display",
        "headers_display",
    )
    actions = ("reprocess",)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: InboundEvent):
        return display.badge(obj.status, obj.get_status_display())

    @admin.display(description=_("duplicates"), ordering="duplicate_count")
    def duplicates(self, obj: InboundEvent):
        return obj.duplicate_count

    @admin.display(description=_("attempts"), ordering="processing_attempts")
    def attempts(self, obj: InboundEvent):
        return obj.processing_attempts

    @admin.display(description=_("error"))
    def error_display(self, obj: InboundEvent):
        return display.pre(mask_text(obj.error))

    @admin.display(description=_("payload"))
    def payload_display(self, obj: InboundEvent):
        return display.pretty_json(obj.payload)

    @admin.display(description=_("headers"))
    def headers_display(self, obj: InboundEvent):
        """The allow-listed headers only, also of rows stored before the list applied."""
        headers = kept_headers(obj.headers or {}, conf.get("INBOUND_HEADERS"))
        return display.pretty_json(headers) if headers else display.EMPTY

    @admin.action(description=_("Reprocess"), permissions=["change"])
    def reprocess(self, request, queryset):
        selected = len(queryset)
        counts = reprocess(queryset)
        skipped = selected - sum(counts.values())
        parts = [
            ngettext("%(count)d processed", "%(count)d processed", counts["processed"])
            % {"count": counts["processed"]},
            ngettext("%(count)d failed", "%(count)d failed", counts["failed"])
            % {"count": counts["failed"]},
        ]
        if counts["duplicate"]:
            parts.append(
                ngettext(
                    "%(count)d processed meanwhile by another worker",
                    "%(count)d processed meanwhile by another worker",
                    counts["duplicate"],
                )
                % {"count": counts["duplicate"]}
            )
        if skipped:
            parts.append(
                ngettext(
                    "%(count)d skipped (already processed)",
                    "%(count)d skipped (already processed)",
                    skipped,
                )
                % {"count": skipped}
            )
        message = gettext("Reprocessed: %(summary)s.") % {"summary": ", ".join(parts)}
        level = messages.WARNING if counts["failed"] else messages.SUCCESS
        self.message_user(request, message, level)
