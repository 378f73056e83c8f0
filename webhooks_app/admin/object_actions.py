"""Buttons on a change page that run one of the list's actions on that object.

A model admin lists in ``object_actions`` the names of its list actions that its
change page offers as buttons. Each button is a form that POSTs (with the CSRF
token) to :meth:`ObjectActionsMixin.object_action_view`, which runs the action on
that one object: the same code, the same permissions (an action the list would
not offer this user answers 403), and back to the change page with its message.
A GET changes nothing (405). An action named in ``confirm_actions`` first shows a
page that asks to confirm, with what :meth:`~ObjectActionsMixin.confirmation` says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext

from webhooks_app.admin import display

if TYPE_CHECKING:  # mixed into a ModelAdmin
    _AdminBase = admin.ModelAdmin
else:
    _AdminBase = object

CONFIRM = "confirm"
"""The POST field that confirms an action named in ``confirm_actions``."""


class ObjectActionsMixin(_AdminBase):
    """For a ``ModelAdmin``: its change page's buttons, each running one list action."""

    object_actions: tuple[str, ...] = ()
    confirm_actions: tuple[str, ...] = ()

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_object_action"
        return [
            path(
                "<path:object_id>/actions/<str:action>/",
                self.admin_site.admin_view(self.object_action_view),
                name=name,
            ),
            *super().get_urls(),
        ]

    def object_action_buttons(self, request, obj) -> list[tuple[str, str]]:
        """(URL, label) of each button this user may use on ``obj``'s page."""
        if not self.has_view_or_change_permission(request, obj):
            return []
        offered = self.get_actions(request)
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_object_action"
        buttons = []
        for action in self.object_actions:
            entry = offered.get(action)
            if entry is None or not self.object_action_applies(obj, action):
                continue
            buttons.append(
                (
                    reverse(name, args=[obj.pk, action], current_app=self.admin_site.name),
                    self.object_action_label(action, action_parts(entry)[1]),
                )
            )
        return buttons

    def object_action_applies(self, obj, action: str) -> bool:
        """Whether ``action`` would do anything to ``obj`` (no button otherwise)."""
        return True

    def object_action_label(self, action: str, description) -> str:
        """A button's label: the list action's description unless a subclass says better."""
        return str(description)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra_context = {**(extra_context or {})}
        extra_context["object_actions"] = (
            [] if obj is None else self.object_action_buttons(request, obj)
        )
        return super().change_view(request, object_id, form_url, extra_context)

    def object_action_view(self, request, object_id, action):
        """Run list action ``action`` on one object (POST only), then back to its page."""
        if action not in self.object_actions:
            raise Http404
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        entry = self.get_actions(request).get(action)
        if entry is None or not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        function, description = action_parts(entry)
        if action in self.confirm_actions and request.POST.get(CONFIRM) != "yes":
            return self._confirm(request, obj, action, description)
        function(self, request, self.get_queryset(request).filter(pk=obj.pk))
        return HttpResponseRedirect(
            reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=[obj.pk],
                current_app=self.admin_site.name,
            )
        )

    def confirmation(self, request, obj, action: str) -> list[str]:
        """What the confirmation page of ``action`` says, paragraph by paragraph."""
        return []

    def _confirm(self, request, obj, action: str, description) -> TemplateResponse:
        label = self.object_action_label(action, description)
        context = {
            **self.admin_site.each_context(request),
            "title": label,
            "subtitle": str(obj),
            "opts": self.opts,
            "original": obj,
            "action_label": label,
            "confirm_field": CONFIRM,
            "paragraphs": self.confirmation(request, obj, action),
            "question": gettext("Are you sure?"),
            **display.object_page_context(self, obj, label),
        }
        return TemplateResponse(request, "admin/webhooks_app/confirm_action.html", context)


def action_parts(entry) -> tuple[Callable, str]:
    """The function and description of a ``get_actions()`` entry: a ``(function, name,
    description)`` tuple up to Django 6.0, an ``Action`` (whose tuple form is deprecated)
    from 6.1."""
    if hasattr(entry, "func"):
        return entry.func, entry.description
    function, _name, description = entry
    return function, description
