"""The endpoint admin's page that reveals a signing secret, and the link to it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from webhooks_app import redaction
from webhooks_app.admin import display
from webhooks_app.models import Endpoint

if TYPE_CHECKING:  # mixed into EndpointAdmin
    _AdminBase = admin.ModelAdmin
else:
    _AdminBase = object


class SecretPageMixin(_AdminBase):
    """For ``EndpointAdmin``: the full secret, for staff with ``view_endpoint_secret``."""

    def may_see_secrets(self, request) -> bool:
        return redaction.may_see_secrets(request.user)

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
