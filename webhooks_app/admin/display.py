"""Small HTML helpers shared by the admin pages (all output goes through format_html)."""

from __future__ import annotations

import json
from typing import Any

import django
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth import get_permission_codename
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, IntegerField, Model, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from webhooks_app import tenancy
from webhooks_app.redaction import mask_text
from webhooks_app.signing import SECRET_PREFIX

EMPTY = "—"

# Text colours that read well on both the light and the dark admin theme.
COLOURS = {
    "succeeded": "#3a9a4a",
    "processed": "#3a9a4a",
    "pending": "#c28a00",
    "failed": "#d64545",
}

PRE_STYLE = "white-space: pre-wrap; word-break: break-all; max-height: 40em; overflow: auto;"

# Characters of a response body shown in the attempts table (bodies are stored
# capped at WEBHOOKS["MAX_RESPONSE_BODY"] bytes already).
BODY_PREVIEW = 2000


def pretty_json(value: Any) -> SafeString:
    """A JSON document, indented, in a <pre> block."""
    text = json.dumps(value, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder)
    return format_html('<pre style="{}">{}</pre>', PRE_STYLE, text)


def pre(text: str, limit: int | None = None) -> SafeString | str:
    """Plain text in a <pre> block, cut to ``limit`` characters with a note."""
    if not text:
        return EMPTY
    if limit is not None and len(text) > limit:
        more = gettext("… (%(count)d more characters)") % {"count": len(text) - limit}
        return format_html('<pre style="{}">{}{}</pre>', PRE_STYLE, text[:limit], more)
    return format_html('<pre style="{}">{}</pre>', PRE_STYLE, text)


BREADCRUMBS_AS_LIST = django.VERSION >= (6, 1)
"""Django 6.1's admin marks breadcrumbs up as ``<ol class="breadcrumbs">`` and styles
only that; earlier versions use ``<div class="breadcrumbs">``."""


def object_page_context(model_admin, obj: Model, page: str) -> dict[str, Any]:
    """Breadcrumbs for a page of the app's own about ``obj``: Home > app > list > obj > page.

    Rendered by ``admin/webhooks_app/breadcrumbs.html`` in the running admin's markup.
    """
    opts = model_admin.opts
    crumbs = [
        (reverse("admin:index", current_app=model_admin.admin_site.name), gettext("Home")),
        (
            reverse(
                "admin:app_list",
                kwargs={"app_label": opts.app_label},
                current_app=model_admin.admin_site.name,
            ),
            opts.app_config.verbose_name,
        ),
        (
            reverse(
                f"admin:{opts.app_label}_{opts.model_name}_changelist",
                current_app=model_admin.admin_site.name,
            ),
            capfirst(opts.verbose_name_plural),
        ),
        (
            reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change",
                args=[quote(obj.pk)],
                current_app=model_admin.admin_site.name,
            ),
            Truncator(str(obj)).words(18),
        ),
        (None, page),
    ]
    return {"crumbs": crumbs, "breadcrumbs_as_list": BREADCRUMBS_AS_LIST}


def tenant(key: str) -> SafeString | str:
    """A tenant as listed: its name (:func:`webhooks_app.tenancy.label`), or "operator"
    (quiet) for the operator's own."""
    if key:
        return tenancy.label(key)
    return format_html('<span class="quiet">{}</span>', gettext("operator"))


def badge(value: str, label: str) -> SafeString:
    """A status in its colour: succeeded/processed green, pending amber, failed red."""
    colour = COLOURS.get(value, "inherit")
    return format_html('<strong style="color: {};">{}</strong>', colour, label)


ERROR_LABELS = {
    "timeout": _("timeout"),
    "connection": _("connection failed"),
    "blocked_address": _("blocked address"),
    "invalid_url": _("invalid URL"),
    "lease_expired": _("lost (worker gone)"),
    "not_sent": _("not sent (worker stalled)"),
    "response_body": _("unreadable body"),
    "invalid_header": _("invalid header"),
    "invalid_secret": _("invalid secret"),
    "internal_error": _("internal error"),
}
"""Short names of ``Attempt.error_type`` for lists; the full error is in the tooltip."""


def http_status(code: int | None, error: str = "", kind: str = "") -> SafeString | str:
    """An HTTP status code in colour, or what went wrong when there was no answer.

    ``kind`` (an ``error_type``) gives a short name; the error's own text, which
    may come from the HTTP library, is only in the tooltip (masked).
    """
    if code:
        colour = COLOURS["succeeded"] if 200 <= code < 300 else COLOURS["failed"]
        return format_html('<strong style="color: {};">{}</strong>', colour, code)
    if error or kind:
        error = mask_text(error)
        if kind:
            short = str(ERROR_LABELS.get(kind, kind.replace("_", " ")))
        else:
            short = error if len(error) <= 40 else error[:39] + "…"
        return format_html(
            '<span style="color: {};" title="{}">{}</span>', COLOURS["failed"], error, short
        )
    return EMPTY


def moment(value) -> str:
    """A date and time to the second, in the current time zone: retries a second apart
    must not read the same (the admin's default format stops at minutes)."""
    if value is None:
        return EMPTY
    return date_format(timezone.localtime(value), "Y-m-d H:i:s")


def mask_secret(secret: str) -> str:
    """``whsec_abcd…``: enough to tell secrets apart, not enough to use one."""
    if not secret:
        return EMPTY
    body = secret.removeprefix(SECRET_PREFIX)
    prefix = SECRET_PREFIX if secret.startswith(SECRET_PREFIX) else ""
    return f"{prefix}{body[:4]}…"


def admin_link(obj: Model, text: Any = None) -> SafeString | str:
    """A link to the object's change page in this admin site."""
    if obj is None:
        return EMPTY
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj if text is None else text)


def count_of(queryset: QuerySet, group_by: str) -> Coalesce:
    """The row count of a queryset correlated with ``OuterRef``, as a scalar subquery.

    ``queryset`` filters ``group_by`` (its foreign key) on ``OuterRef("pk")``.
    Unlike ``Count("relation", filter=...)`` this joins nothing onto the outer
    query: each row's count is one index range scan, however many related rows
    exist outside the filter.
    """
    counted = queryset.order_by().values(group_by).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


class ParentPermissionsInline(admin.TabularInline):
    """A read-only inline visible to whoever may view the parent object.

    Attempts and deliveries are records of what happened: nobody adds, edits or
    deletes them inline.
    """

    extra = 0
    max_num = 0
    empty_value_display = EMPTY
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        opts = self.parent_model._meta
        return any(
            request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
            for action in ("view", "change")
        )


class ListStylesMixin:
    """The app's list styles (wrapping long cells, webhooks_app/admin.css)."""

    class Media:
        css = {"all": ["webhooks_app/admin.css"]}


class ReadOnlyChangeMixin:
    """Change pages that only display: every field read-only, no save buttons.

    The change permission still matters: it is what the list's actions require.
    """

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)
