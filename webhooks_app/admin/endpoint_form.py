"""The endpoint admin's form: event types ticked from the catalog, extra headers as rows,
credentials masked for users who may not see them.

Event types are "every type" (stored as ``[]``), or the catalog's types ticked
plus any other names or patterns typed in; ticking "every type" and naming some
is ambiguous and refused. A masked value (``********``) saved unchanged keeps the
stored one.
"""

from __future__ import annotations

import re

from django import forms
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from webhooks_app import event_types, redaction, validators
from webhooks_app.admin import tenants
from webhooks_app.admin.header_rows import HeaderRowsField

# "order.*, user.created" or one per line.
_SEPARATORS = re.compile(r"[\s,]+")


class EndpointForm(forms.ModelForm):
    """The endpoint form, validated by the model; credentials masked unless ``show_secrets``."""

    show_secrets = True  # EndpointAdmin.get_form sets it for the request's user

    all_types = forms.BooleanField(
        label=_("Every event type"),
        required=False,
        help_text=_("Including types added later. Or tick the types below."),
    )
    event_types = forms.MultipleChoiceField(
        label=_("Event types"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The types of the catalog (webhooks_app.event_types.register)."),
    )
    patterns = forms.CharField(
        label=_("Other event types"),
        required=False,
        help_text=_('Names or patterns separated by commas, e.g. "order.*, user.created".'),
    )
    headers = HeaderRowsField(
        label=_("Extra headers"),
        required=False,
        help_text=_("Sent with every request, one header per row; blank rows are ignored."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "tenant" in self.fields:
            self.fields["tenant"] = tenants.tenant_field(
                self.fields["tenant"], self.instance.tenant
            )
        self._initial_event_types()
        if self.instance.pk is None or self.show_secrets:
            return
        if "url" in self.fields:
            self.initial["url"] = redaction.mask_url(self.instance.url)
        if "headers" in self.fields and isinstance(self.instance.headers, dict):
            self.initial["headers"] = redaction.mask_headers(self.instance.headers)

    def _stored_types(self) -> list[str]:
        stored = self.instance.event_types if self.instance.pk else []
        return [str(name) for name in stored] if isinstance(stored, list) else []

    def _initial_event_types(self) -> None:
        """The catalog's types as checkboxes (a deprecated one only while this endpoint
        receives it), ticked as stored; the other stored names as typed patterns."""
        stored = self._stored_types()
        field = self.fields["event_types"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [
            (entry.name, entry.name)
            for entry in event_types.all()
            if not entry.deprecated or entry.name in stored
        ]
        offered = {value for value, _label in field.choices}
        self.initial["all_types"] = not stored
        self.initial["event_types"] = [name for name in stored if name in offered]
        self.initial["patterns"] = ", ".join(name for name in stored if name not in offered)

    @cached_property
    def changed_data(self) -> list[str]:
        """With ``event_types`` when "every type" or the patterns changed: the three
        fields make the one column (which the admin saves alone when it changed)."""
        changed = super().changed_data
        if {"all_types", "patterns"} & set(changed) and "event_types" not in changed:
            return [*changed, "event_types"]
        return changed

    def clean_url(self):
        url = self.cleaned_data["url"]
        return redaction.unmask_url(url, self.instance.url) if self.instance.pk else url

    def clean_headers(self):
        headers = self.cleaned_data["headers"]
        if self.instance.pk is None:
            return headers
        return validators.unmask_headers(
            headers,
            self.instance.headers,
            url=self.cleaned_data.get("url", ""),
            stored_url=self.instance.url,
        )

    def clean(self) -> dict:
        """``event_types`` from "every type", the ticked types and the typed patterns."""
        cleaned = super().clean() or {}
        if "event_types" in self.errors:
            return cleaned
        typed = [name for name in _SEPARATORS.split(cleaned.get("patterns", "")) if name]
        picked = list(dict.fromkeys([*cleaned.get("event_types", []), *typed]))
        if cleaned.get("all_types") and picked:
            raise forms.ValidationError(
                _("Tick every event type or some types, not both."), code="ambiguous_types"
            )
        if not cleaned.get("all_types") and not picked:
            raise forms.ValidationError(
                _("Tick the event types to send, or every event type."), code="no_types"
            )
        cleaned["event_types"] = picked
        return cleaned
