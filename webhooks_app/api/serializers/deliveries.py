"""Deliveries and their attempts."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from webhooks_app import redaction
from webhooks_app.api.serializers.common import MaskedErrorField, NamedChoiceField, sees_secrets
from webhooks_app.api.serializers.state import DeliveryStateSerializer
from webhooks_app.models import Attempt, Delivery


class AttemptSerializer(serializers.ModelSerializer):
    error = MaskedErrorField(read_only=True)
    trigger = NamedChoiceField(
        "AttemptTrigger",
        choices=Attempt.Trigger.choices,
        read_only=True,
        help_text=_("scheduled: a try on the retry schedule; manual: sent on request."),
    )

    class Meta:
        model = Attempt
        fields = [
            "number",
            "status_code",
            "error_type",
            "error",
            "duration_ms",
            "response_body",
            "trigger",
            "created_at",
        ]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="event_id", read_only=True, help_text=_("Event id."))
    endpoint = serializers.IntegerField(
        source="endpoint_id", read_only=True, help_text=_("Endpoint id.")
    )
    event_type = serializers.CharField(source="event.event_type", read_only=True)
    endpoint_url = serializers.CharField(source="endpoint.url", read_only=True)
    tenant = serializers.CharField(
        source="endpoint.tenant", read_only=True, help_text=_("The endpoint's tenant.")
    )
    last_error = MaskedErrorField(read_only=True)
    status = NamedChoiceField("DeliveryStatus", choices=Delivery.Status.choices, read_only=True)
    state = DeliveryStateSerializer(
        help_text=_("Its state and when its next try really is (read-only).")
    )

    class Meta:
        model = Delivery
        fields = [
            "id",
            "tenant",
            "event",
            "event_type",
            "endpoint",
            "endpoint_url",
            "status",
            "state",
            "attempt_count",
            "ordering_key",
            "next_attempt_at",
            "locked_until",
            "last_status_code",
            "last_error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not sees_secrets(self):
            data["endpoint_url"] = redaction.mask_url(data["endpoint_url"])
        return data


class DeliveryDetailSerializer(DeliverySerializer):
    """A delivery with its attempts, oldest first."""

    attempts = AttemptSerializer(many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "attempts"]
        read_only_fields = fields
