"""drf-spectacular support: the app's choice sets as named schema components.

Imported (once) by :class:`webhooks_app.api.schema.ViewSchema` when a project's
schema class is not DRF's own, and only if drf-spectacular is installed:
defining the extension class is what registers it with drf-spectacular.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_choice_field


class NamedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    """:class:`~webhooks_app.api.serializers.common.NamedChoiceField` as a ``$ref`` to
    a component named by the field (``DeliveryStatus``, ``InboundEventStatus``, ...),
    which drf-spectacular's enum naming leaves alone."""

    target_class = "webhooks_app.api.serializers.common.NamedChoiceField"
    match_subclasses = True

    def get_name(self) -> str:
        return self.target.enum_name

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = build_choice_field(self.target)
        schema.pop("x-spec-enum-id", None)  # the enum hook's hash, for inline enums only
        return schema
