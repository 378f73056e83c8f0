"""The event-type catalog in the endpoints' admin: "Send an example" and deprecated types.

:class:`CatalogAdminMixin` adds to an endpoint's change page a "Send an example"
button (a form choosing one of the registered types with an example that the
endpoint subscribes to; the permission to send a test event is needed), and a
warning when the endpoint names deprecated types. :func:`deprecated_note` flags
them in the list.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from webhooks_app import event_types, operations
from webhooks_app.admin import display
from webhooks_app.event_types import EventType
from webhooks_app.models import Endpoint


def deprecated_note(endpoint: Endpoint) -> SafeString | str:
    """The deprecated types an endpoint names, as a warning line (or nothing)."""
    names = event_types.deprecated_in(endpoint.event_types)
    if not names:
        return ""
    return format_html(
        '<br><span title="{}">{} {}</span>',
        gettext("The catalog marks these event types as deprecated."),
        display.badge("pending", "⚠ " + gettext("deprecated:")),
        ", ".join(names),
    )


class SendExampleForm(forms.Form):
    event_type = forms.ChoiceField(
        label=_("Event type"),
        help_text=_("Its example is sent to this endpoint alone, as a new event."),
    )

    def __init__(self, *args, types: list[EventType], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["event_type"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (t.name, f"{t.name} ({gettext('deprecated')})" if t.deprecated else t.name)
            for t in types
        ]


if TYPE_CHECKING:  # mixed into EndpointAdmin

    class _AdminBase(admin.ModelAdmin):
        def has_send_test_permission(self, request) -> bool: ...

else:
    _AdminBase = object


class CatalogAdminMixin(_AdminBase):
    """For ``EndpointAdmin``: the send-example page and the deprecation warning."""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_send_example"
        return [
            path(
                "<path:object_id>/send-example/",
                self.admin_site.admin_view(self.send_example_view),
                name=name,
            ),
            *super().get_urls(),
        ]

    def may_send_example(self, request, obj: Endpoint) -> bool:
        """Like the test event: who may see the endpoint and send a test event."""
        return self.has_view_or_change_permission(request, obj) and self.has_send_test_permission(
            request
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if obj is not None and request.method == "GET":
            names = event_types.deprecated_in(obj.event_types)
            if names:
                self.message_user(
                    request,
                    gettext(
                        "This endpoint subscribes to deprecated event types: %(types)s. They "
                        "will be removed; subscribe to their replacements."
                    )
                    % {"types": ", ".join(names)},
                    messages.WARNING,
                )
        if obj is not None and self.may_send_example(request, obj):
            extra_context["send_example_url"] = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_send_example",
                args=[obj.pk],
                current_app=self.admin_site.name,
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def send_example_view(self, request, object_id):
        """GET: choose a type; POST: send its example to this endpoint and go back."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.may_send_example(request, obj):
            raise PermissionDenied
        types = operations.example_types(obj)
        form = SendExampleForm(request.POST if request.method == "POST" else None, types=types)
        if form.is_valid():
            event = operations.send_example(obj, form.cleaned_data["event_type"])
            self._report_example(request, obj, event)
            change_url = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=[obj.pk],
                current_app=self.admin_site.name,
            )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Send an example"),
            "subtitle": str(obj),
            "opts": self.opts,
            "original": obj,
            "form": form,
            "types": [
                (event_type, json.dumps(event_type.example, indent=2, ensure_ascii=False))
                for event_type in types
            ],
            **display.object_page_context(self, obj, gettext("Send an example")),
        }
        return TemplateResponse(request, "admin/webhooks_app/endpoint/send_example.html", context)

    def _report_example(self, request, endpoint: Endpoint, event) -> None:
        delivery = event.deliveries.get()
        self.message_user(
            request,
            format_html(
                "{} {}",
                gettext("Example of %(type)s queued for %(url)s as event %(event)s.")
                % {"type": event.event_type, "url": endpoint, "event": event.pk},
                display.admin_link(delivery, gettext("View the delivery")),
            ),
            messages.SUCCESS,
        )
        if not endpoint.is_active:
            self.message_user(
                request,
                gettext("This endpoint is disabled: the example waits until it is enabled again."),
                messages.WARNING,
            )
