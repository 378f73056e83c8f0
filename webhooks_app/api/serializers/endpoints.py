"""Endpoints: as listed and edited, the secret shown once, and the actions' inputs."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from webhooks_app import event_types, redaction, validators
from webhooks_app.api.serializers.common import (
    NamedChoiceField,
    StorableJSONField,
    check_event_type_pattern,
    sees_secrets,
)
from webhooks_app.api.serializers.state import EndpointStateSerializer
from webhooks_app.models import Endpoint
from webhooks_app.sending import contacts
from webhooks_app.validators import check_endpoint_url


class DeprecatedTypesField(serializers.ListField):
    """The deprecated types of the catalog that an endpoint's event types name."""

    def __init__(self, **kwargs) -> None:
        super().__init__(child=serializers.CharField(), read_only=True, **kwargs)

    def get_attribute(self, instance):
        return event_types.deprecated_in(instance.event_types)


class EndpointSerializer(serializers.ModelSerializer):
    """An endpoint as listed and edited; the secret can be set on create, never read."""

    event_types = serializers.ListField(
        child=serializers.CharField(max_length=255, validators=[check_event_type_pattern]),
        required=False,
        help_text=_('Event types to send, e.g. ["order.paid", "user.*"]; empty means all.'),
    )
    deprecated_event_types = DeprecatedTypesField(
        help_text=_(
            "The event types named in event_types that the catalog marks as deprecated "
            "(wildcards are not flagged)."
        )
    )
    headers = serializers.DictField(
        # Not trimmed: a value is sent as given, or refused as the model refuses it.
        child=serializers.CharField(max_length=1000, allow_blank=True, trim_whitespace=False),
        required=False,
        help_text=_("Extra headers sent with every request."),
    )
    circuit_state = NamedChoiceField(
        "CircuitState",
        choices=["closed", "open", "half-open"],
        read_only=True,
        help_text=_(
            "closed: sending normally; open: waiting out a cool-down after a high failure "
            "rate or a run of timeouts or errors; half-open: one probe request at a time."
        ),
    )
    state = EndpointStateSerializer(
        help_text=_("What is going on with it, why, and until when (read-only).")
    )
    contact_email_confirmed = serializers.BooleanField(
        read_only=True,
        help_text=_(
            "Whether contact_email gets alerts. An address a customer sets is confirmed "
            "through a link mailed to it, sent again each time contact_email is sent while "
            "unconfirmed (within the address's daily mail cap); one staff set is confirmed."
        ),
    )
    secret = serializers.CharField(
        write_only=True,
        required=False,
        max_length=100,
        help_text=_(
            "A whsec_ secret; generated when left out. Only settable on create: "
            "use the rotate-secret action to change it."
        ),
    )

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "tenant",
            "url",
            "description",
            "contact_email",
            "contact_email_confirmed",
            "event_types",
            "deprecated_event_types",
            "headers",
            "secret",
            "is_active",
            "disabled_reason",
            "disabled_at",
            "rate_limit",
            "failure_streak",
            "failing_since",
            "state",
            "circuit_state",
            "circuit_opened_at",
            "paused_until",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "is_active",
            "disabled_reason",
            "disabled_at",
            "failure_streak",
            "failing_since",
            "circuit_opened_at",
            "paused_until",
            "created_at",
            "updated_at",
        ]

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if "tenant" in self.context:
            # A customer's endpoints stay its own: the tenant is never read from the body.
            help_text = Endpoint._meta.get_field("tenant").help_text
            fields["tenant"] = serializers.CharField(read_only=True, help_text=help_text)
        return fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not sees_secrets(self):
            data["url"] = redaction.mask_url(data["url"])
            data["headers"] = redaction.mask_headers(data.get("headers") or {})
        return data

    def to_internal_value(self, data):
        if self.instance is not None and isinstance(data, dict):
            data = self._unmasked(dict(data), self.instance)
        return super().to_internal_value(data)

    def _unmasked(self, data: dict, instance: Endpoint) -> dict:
        """What a GET showed masked, sent back unchanged, keeps the stored value; a masked
        header only for the same scheme, host and port."""
        if isinstance(data.get("url"), str):
            data["url"] = redaction.unmask_url(data["url"], instance.url)
        url = data.get("url", instance.url)
        url = url if isinstance(url, str) else ""
        kept = "headers" not in data and isinstance(instance.headers, dict)
        if kept and not sees_secrets(self) and not redaction.same_origin(url, instance.url):
            # Headers left out are kept: the same as sending them back masked.
            data["headers"] = redaction.mask_headers(instance.headers)
        if "headers" in data:
            try:
                data["headers"] = validators.unmask_headers(
                    data["headers"], instance.headers, url=url, stored_url=instance.url
                )
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"headers": exc.messages}) from None
        return data

    @property
    def by_customer(self) -> bool:
        """Whether the tenant API is writing (the staff API has no tenant in its context)."""
        return "tenant" in self.context

    def create(self, validated_data: dict) -> Endpoint:
        if not self.by_customer:
            validated_data["confirmed_contact_email"] = validated_data.get("contact_email", "")
        endpoint = super().create(validated_data)
        self._contact_set(endpoint, validated_data)
        return endpoint

    def update(self, instance: Endpoint, validated_data: dict) -> Endpoint:
        """Write only the fields sent, never the health columns loaded with the instance
        (workers update streaks and alerts meanwhile), as the admin and the portal do."""
        if "contact_email" in validated_data and not self.by_customer:
            validated_data["confirmed_contact_email"] = validated_data["contact_email"]
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save(update_fields=[*validated_data, "updated_at"])
        self._contact_set(instance, validated_data)
        return instance

    def _contact_set(self, endpoint: Endpoint, validated_data: dict) -> None:
        """A contact address a customer sent is mailed a confirmation link, unless it is
        confirmed already (one staff sent is confirmed as it is)."""
        if self.by_customer and "contact_email" in validated_data:
            contacts.request_confirmation(self.context["request"], endpoint)

    def validate_url(self, value: str) -> str:
        try:
            check_endpoint_url(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value

    def validate_event_types(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # duplicates dropped, order kept

    def validate_headers(self, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            problem = validators.header_problem(name, header_value)
            if problem:
                raise serializers.ValidationError(problem)
        return value

    def validate_secret(self, value: str) -> str:
        if self.instance is not None:
            raise serializers.ValidationError(
                _("The secret cannot be edited; use the rotate-secret action.")
            )
        problem = validators.secret_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class SecretField(serializers.CharField):
    """The secret, for users who may see secrets; ``null`` for the others."""

    def __init__(self, **kwargs) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def get_attribute(self, instance):
        if not sees_secrets(self.parent):
            return None
        return super().get_attribute(instance)


class EndpointCreatedSerializer(EndpointSerializer):
    """The create response: the endpoint with its secret, shown this once."""

    secret = SecretField(
        help_text=_("The signing secret; null without the view_endpoint_secret permission.")
    )


class EndpointSecretSerializer(serializers.ModelSerializer):
    """An endpoint's current secret (reveal and rotate-secret actions)."""

    secret = SecretField(
        help_text=_("The signing secret; null without the view_endpoint_secret permission.")
    )

    class Meta:
        model = Endpoint
        fields = ["id", "secret", "previous_secret_expires_at"]
        read_only_fields = fields


class DisableEndpointSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text=_("Why the endpoint is disabled; shown in the admin."),
    )


class SendTestSerializer(serializers.Serializer):
    payload = StorableJSONField(
        required=False, help_text=_("The test event's data; a short message when left out.")
    )
