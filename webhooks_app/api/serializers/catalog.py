"""The event-type catalog's types."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class EventTypeSerializer(serializers.Serializer):
    """A type of the event-type catalog (``webhooks_app.event_types``)."""

    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    schema = serializers.JSONField(
        read_only=True, help_text=_("The JSON Schema of the payload (data); null without one.")
    )
    example = serializers.JSONField(
        read_only=True, help_text=_("An example payload (data); null without one.")
    )
    deprecated = serializers.BooleanField(read_only=True)
