"""Extra headers as rows of name and value: a widget and its field (no JavaScript).

The rows post as ``<name>_<n>_name`` and ``<name>_<n>_value``; blank rows are
ignored, and a few blank ones are always offered for new headers. The field
turns the rows into the ``Endpoint.headers`` object and refuses names HTTP cannot
send or that deliveries set themselves (:func:`webhooks_app.validators.header_problem`);
values are checked by the model, after a masked value has been replaced by the
stored one (the form's ``clean_headers``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from webhooks_app import validators

Rows = list[tuple[str, str]]

BLANK_ROWS = 2
"""Blank rows offered after the stored headers (at least ``MIN_ROWS`` rows in all)."""
MIN_ROWS = 3
MAX_ROWS = 50
"""Headers one endpoint may have through this form (a POST with more rows is refused)."""


def as_rows(value: Any) -> Rows:
    """Rows from a headers object (or rows already); nothing from a value no form saves."""
    if isinstance(value, dict):
        return [(str(name), "" if v is None else str(v)) for name, v in value.items()]
    if isinstance(value, list) and all(isinstance(row, tuple) for row in value):
        return value
    return []


class HeaderRowsWidget(forms.Widget):
    """Rows of two text inputs, name and value."""

    template_name = "admin/webhooks_app/widgets/header_rows.html"

    def format_value(self, value: Any) -> Rows:
        rows = [(name, v) for name, v in as_rows(value) if name.strip() or v.strip()]
        return rows + [("", "")] * max(BLANK_ROWS, MIN_ROWS - len(rows))

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["rows"] = [
            {
                "number": number + 1,
                "name": name_,
                "value": value_,
                "name_field": f"{name}_{number}_name",
                "value_field": f"{name}_{number}_value",
            }
            for number, (name_, value_) in enumerate(context["widget"]["value"])
        ]
        return context

    def value_from_datadict(self, data, files, name) -> Rows:
        rows = []
        # As many rows as a full form shows, and one more, so that too many are seen.
        for number in range(MAX_ROWS + BLANK_ROWS + 1):
            header = data.get(f"{name}_{number}_name")
            value = data.get(f"{name}_{number}_value")
            if header is None and value is None:
                break
            rows.append((header or "", value or ""))
        return rows

    def value_omitted_from_data(self, data, files, name) -> bool:
        return f"{name}_0_name" not in data and f"{name}_0_value" not in data

    def id_for_label(self, id_: str) -> str:
        return f"{id_}_0_name" if id_ else id_


class HeaderRowsField(forms.Field):
    """The rows as a ``{name: value}`` object; names checked, each at most once."""

    widget = HeaderRowsWidget
    default_error_messages = {
        "no_name": _("Row %(number)d has a value but no header name."),
        "twice": _("%(name)s is named twice; a header is sent once."),
        "too_many": _("An endpoint has at most %(max)d extra headers here."),
    }

    def to_python(self, value: Any) -> dict[str, str]:
        rows = as_rows(value)
        if sum(bool(name.strip() or v.strip()) for name, v in rows) > MAX_ROWS:
            raise ValidationError(
                self.error_messages["too_many"], code="too_many", params={"max": MAX_ROWS}
            )
        headers: dict[str, str] = {}
        seen: set[str] = set()
        for number, (name, header_value) in enumerate(rows, start=1):
            name, header_value = name.strip(), header_value.strip()
            if not name and not header_value:
                continue
            if not name:
                raise ValidationError(
                    self.error_messages["no_name"], code="no_name", params={"number": number}
                )
            problem = validators.header_problem(name, "")  # the name alone: values are
            if problem:  # checked once a masked one is replaced by the stored value
                raise ValidationError(problem, code="invalid_header")
            if name.lower() in seen:
                raise ValidationError(
                    self.error_messages["twice"], code="twice", params={"name": name}
                )
            seen.add(name.lower())
            headers[name] = header_value
        return headers

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != (initial if isinstance(initial, dict) else {})
        except ValidationError:
            return True
