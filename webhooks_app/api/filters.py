"""Query-string filters for list views, declared on the view and described in the schema.

A view sets ``query_filters = {"status": ("status", ChoiceField(...)), ...}``:
each query parameter maps to an ORM lookup and a serializer field that parses
and validates its value. A bad value answers 400 with the parameter named.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from rest_framework import serializers
from rest_framework.filters import BaseFilterBackend
from rest_framework.schemas.openapi import AutoSchema

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise


# The range of the app's ids (BigAutoField): a number outside it matches nothing, and the
# database would refuse it (SQLite raises OverflowError), so it answers 400.
MAX_ID = 2**63 - 1


def id_filter(help_text: _StrOrPromise) -> serializers.IntegerField:
    """A query filter's field for an object's id, refused with 400 outside the ids' range."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text=help_text)


class QueryFilterBackend(BaseFilterBackend):
    """Applies a view's ``query_filters`` to its list action."""

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) != "list":
            return queryset
        lookups, errors = {}, {}
        for name, (lookup, field) in getattr(view, "query_filters", {}).items():
            raw = request.query_params.get(name)
            if raw is None or raw == "":
                continue
            try:
                lookups[lookup] = copy.deepcopy(field).run_validation(raw)
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
        if errors:
            raise serializers.ValidationError(errors)
        return queryset.filter(**lookups)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        mapper = AutoSchema()
        return [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": str(field.help_text or ""),
                "schema": mapper.map_field(field),
            }
            for name, (_lookup, field) in getattr(view, "query_filters", {}).items()
        ]
