"""Events: as listed, with their deliveries, and a new one sent through the API."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from webhooks_app.api.serializers.common import StorableJSONField, validate_event_type_pattern
from webhooks_app.api.serializers.deliveries import DeliverySerializer
from webhooks_app.models import Event
from webhooks_app.sending import ordering
from webhooks_app.tenancy import OPERATOR, TENANT_MAX_LENGTH


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "id",
            "tenant",
            "event_type",
            "payload",
            "idempotency_key",
            "ordering_key",
            "created_at",
        ]
        read_only_fields = fields


class EventDetailSerializer(EventSerializer):
    """An event with its deliveries."""

    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta(EventSerializer.Meta):
        fields = [*EventSerializer.Meta.fields, "deliveries"]
        read_only_fields = fields


class EventCreateSerializer(serializers.Serializer):
    """A new event; the idempotency key may come from the ``Idempotency-Key`` header instead."""

    event_type = serializers.CharField(max_length=255)
    payload = StorableJSONField(help_text=_("The event's data, any JSON value."))
    tenant = serializers.CharField(
        max_length=TENANT_MAX_LENGTH,
        allow_blank=True,
        default=OPERATOR,
        help_text=_("Whose endpoints receive it; left out or empty: the operator's own."),
    )
    idempotency_key = serializers.CharField(
        max_length=255,
        required=False,
        help_text=_(
            "A repeated key (for the same tenant) returns the event first created with it "
            "(200) and sends nothing."
        ),
    )

    ordering_key = serializers.CharField(
        max_length=ordering.MAX_LENGTH,
        required=False,
        help_text=_(
            "Events of the tenant with the same key reach each endpoint one at a time, in the "
            "order they were sent; the next waits until the previous one succeeded or failed "
            "for good."
        ),
    )

    def validate_event_type(self, value: str) -> str:
        if "*" in value:
            raise serializers.ValidationError(_("An event type may not contain a wildcard."))
        return validate_event_type_pattern(value)

    def validate(self, attrs: dict) -> dict:
        header = self.context.get("idempotency_key_header")
        if header is not None:
            try:
                header = serializers.CharField(max_length=255).run_validation(header)
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"Idempotency-Key": exc.detail}) from None
            body = attrs.get("idempotency_key")
            if body is not None and body != header:
                raise serializers.ValidationError(
                    {
                        "idempotency_key": _(
                            "Differs from the Idempotency-Key header; send one or the other."
                        )
                    }
                )
            attrs["idempotency_key"] = header
        return attrs
