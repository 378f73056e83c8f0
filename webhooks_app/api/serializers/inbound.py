"""Inbound events (webhooks received), with the allow-listed headers alone."""

from __future__ import annotations

from rest_framework import serializers

from webhooks_app import conf, redaction
from webhooks_app.api.serializers.common import MaskedErrorField, NamedChoiceField
from webhooks_app.models import InboundEvent


class KeptHeadersField(serializers.JSONField):
    """Only the allow-listed headers (``WEBHOOKS["INBOUND_HEADERS"]``), also of older rows."""

    def to_representation(self, value):
        return redaction.kept_headers(value or {}, conf.get("INBOUND_HEADERS"))


class InboundEventSerializer(serializers.ModelSerializer):
    headers = KeptHeadersField(read_only=True)
    error = MaskedErrorField(read_only=True)
    status = NamedChoiceField(
        "InboundEventStatus", choices=InboundEvent.Status.choices, read_only=True
    )

    class Meta:
        model = InboundEvent
        fields = [
            "id",
            "source",
            "event_id",
            "event_type",
            "payload",
            "headers",
            "status",
            "error",
            "processing_attempts",
            "duplicate_count",
            "receiver",
            "received_at",
            "processed_at",
        ]
        read_only_fields = fields
