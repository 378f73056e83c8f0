"""The portal's forms: an endpoint (validated by the model) and "retry failed since"."""

from __future__ import annotations

import re
from datetime import date, datetime, time

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from webhooks_app import event_types, operations, redaction
from webhooks_app.models import Endpoint

# "order.*, user.created" or one per line.
_SEPARATORS = re.compile(r"[\s,]+")


class EndpointForm(forms.ModelForm):
    """Add or edit one of a tenant's endpoints.

    The tenant is set by the view, never by the form. The URL's password and
    query-string values are shown masked, and a masked URL sent back unchanged
    keeps the stored one. Event types are "all types", or the types picked plus
    any other names or patterns typed in (both at once is refused, not read as
    "all"); the model's ``full_clean`` validates the result, the URL's safety included.
    """

    url = forms.URLField(
        label=_("URL"),
        max_length=2000,
        assume_scheme="https",
        help_text=_("Where we send webhooks: an https URL that accepts POST requests."),
    )
    all_types = forms.BooleanField(
        label=_("All event types"),
        required=False,
        help_text=_("Every event type, including types added later."),
    )
    event_types = forms.MultipleChoiceField(
        label=_("Event types"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    patterns = forms.CharField(
        label=_("Other event types"),
        required=False,
        help_text=_('Names or patterns separated by commas, e.g. "order.*, user.created".'),
    )

    class Meta:
        model = Endpoint
        fields = ["url", "description", "contact_email", "event_types", "rate_limit"]
        labels = {"rate_limit": _("Rate limit (requests per second)")}
        help_texts = {
            "contact_email": _(
                "We write to this address when the endpoint starts failing, before it is "
                "disabled and when it is disabled, once it is confirmed through the link we "
                "mail to it."
            )
        }

    def __init__(self, *args, tenant: str, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.instance.tenant = tenant
        self._choice_field("event_types").choices = self.type_choices()
        if self.instance.pk is None:
            self.initial.setdefault("all_types", True)
            return
        self.initial["url"] = redaction.mask_url(self.instance.url)
        stored = self.instance.event_types if isinstance(self.instance.event_types, list) else []
        offered = {value for value, _label in self.type_choices()}
        self.initial["all_types"] = not stored
        self.initial["event_types"] = [name for name in stored if name in offered]
        self.initial["patterns"] = ", ".join(str(name) for name in stored if name not in offered)

    def _choice_field(self, name: str) -> forms.ChoiceField:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        return field

    def type_choices(self) -> list[tuple[str, str]]:
        """The catalog's event types, as checkboxes: deprecated ones only while this
        endpoint still receives them (so they can be kept or dropped, not newly picked)."""
        stored = self.instance.event_types if isinstance(self.instance.event_types, list) else []
        return [
            (event_type.name, event_type.name)
            for event_type in event_types.all()
            if not event_type.deprecated or event_type.name in stored
        ]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        return redaction.unmask_url(url, self.instance.url) if self.instance.pk else url

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        typed = [name for name in _SEPARATORS.split(cleaned.get("patterns", "")) if name]
        picked = list(dict.fromkeys([*cleaned.get("event_types", []), *typed]))
        if cleaned.get("all_types"):
            if picked:  # never a silent "every event" for a customer who picked some
                self.add_error(
                    "all_types",
                    forms.ValidationError(
                        _(
                            "Choose either all event types or the types you picked: untick "
                            "“All event types” to receive only those, or clear them."
                        ),
                        code="all_and_picked",
                    ),
                )
            cleaned["event_types"] = []
            return cleaned
        if not picked and "event_types" not in self.errors:
            raise forms.ValidationError(
                _("Pick the event types to receive, or all event types."), code="no_types"
            )
        cleaned["event_types"] = picked
        return cleaned


class SendExampleForm(forms.Form):
    """Send the catalog's example of one of the types an endpoint subscribes to."""

    event_type = forms.ChoiceField(label=_("Event type"))

    def __init__(self, *args, endpoint: Endpoint, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["event_type"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (event_type.name, event_type.name) for event_type in operations.example_types(endpoint)
        ]


class RetrySinceForm(forms.Form):
    """Retry every failed delivery of an endpoint made on or after a day."""

    since = forms.DateField(
        label=_("Failed since"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean_since(self) -> date:
        since = self.cleaned_data["since"]
        if since > timezone.localdate():
            raise forms.ValidationError(_("Pick a day that is not in the future."), code="future")
        return since

    def since_moment(self) -> datetime:
        """The start of the chosen day in the current time zone."""
        return timezone.make_aware(datetime.combine(self.cleaned_data["since"], time.min))
