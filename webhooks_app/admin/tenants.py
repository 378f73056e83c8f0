"""Tenants on the endpoint form: by name from the project's list, or typed with suggestions.

With ``WEBHOOKS["TENANT_CHOICES"]`` the form offers a list (a typo cannot orphan
an endpoint); without it, a text field suggests the keys in use, and saving a key
that no other endpoint or event has gets a warning (:func:`is_unknown`).
"""

from __future__ import annotations

from django import forms

from webhooks_app import tenancy
from webhooks_app.admin.filters import MAX_CHOICES, OPERATOR_LABEL
from webhooks_app.models import Endpoint, Event


class TenantInput(forms.TextInput):
    """A text input with the tenant keys in use as suggestions (an HTML datalist)."""

    template_name = "admin/webhooks_app/widgets/tenant_input.html"
    LIST_ID = "webhooks-tenants"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__({"list": self.LIST_ID, **(attrs or {})})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["list_id"] = self.LIST_ID
        context["widget"]["suggestions"] = known_keys()
        return context


def known_keys() -> list[str]:
    """The first tenant keys of endpoints (from their index), the operator's excluded."""
    return list(
        Endpoint.objects.exclude(tenant=tenancy.OPERATOR)
        .order_by("tenant")
        .values_list("tenant", flat=True)
        .distinct()[:MAX_CHOICES]
    )


def tenant_field(field: forms.Field, current: str) -> forms.Field:
    """The form's tenant field: a list when the project gives choices (the endpoint's
    ``current`` tenant kept in it, listed or not), else ``field`` with suggestions."""
    listed = tenancy.choices()
    if listed is None:
        field.widget = TenantInput(field.widget.attrs)
        return field
    options = [(tenancy.OPERATOR, str(OPERATOR_LABEL)), *listed]
    if current not in {key for key, _name in options}:
        options.append((current, tenancy.label(current)))
    return forms.ChoiceField(
        label=field.label,
        help_text=field.help_text,
        choices=options,
        required=False,
    )


def is_unknown(endpoint: Endpoint) -> bool:
    """Whether ``endpoint``'s tenant is one no other endpoint, nor any event, has (a typo?).

    A tenant picked from the project's choices is known, whether it has endpoints or not.
    """
    key = endpoint.tenant
    if key == tenancy.OPERATOR or tenancy.choices() is not None:
        return False
    others = Endpoint.objects.filter(tenant=key).exclude(pk=endpoint.pk)
    return not others.exists() and not Event.objects.filter(tenant=key).exists()
