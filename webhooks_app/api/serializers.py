"""Serializers of the REST API.

An endpoint's secret is write-only in :class:`EndpointSerializer`; it is read
back only through :class:`EndpointCreatedSerializer` (the create response) and
:class:`EndpointSecretSerializer` (the reveal and rotate actions), and only by
users with the ``view_endpoint_secret`` permission (``null`` for the others).
The same permission shows an endpoint's credentials: without it, the values of
its extra headers, its URL's password and query-string values are masked
(``********``); a masked value sent back unchanged keeps the stored one. Error
texts are always shown with query-string values and URL passwords masked.

The customer-facing API's views put the request's tenant in the serializer context
(``context["tenant"]``, None while the schema is generated) and serialize that
tenant's objects alone: there an endpoint's ``tenant`` is read-only, and the owner
sees the secrets and credentials it set.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from webhooks_app import conf, event_types, redaction, validators
from webhooks_app.models import Attempt, Delivery, Endpoint, Event, InboundEvent
from webhooks_app.tenancy import OPERATOR, TENANT_MAX_LENGTH
from webhooks_app.validators import check_endpoint_url


def check_event_type_pattern(value: str) -> None:
    """``order.paid``, ``order.*`` or ``*``: no spaces, a wildcard only as a last segment."""
    problem = validators.event_type_problem(value)
    if problem:
        raise serializers.ValidationError(problem)


def validate_event_type_pattern(value: str) -> str:
    """:func:`check_event_type_pattern`, returning the value (for ``validate_<field>``)."""
    check_event_type_pattern(value)
    return value


def sees_secrets(serializer: serializers.Serializer) -> bool:
    """Whether the reader may read secrets and credentials (no request: no).

    The owning tenant may (the tenant views serialize nothing else); staff need
    the ``view_endpoint_secret`` permission.
    """
    if serializer.context.get("tenant"):
        return True
    request = serializer.context.get("request")
    return request is not None and redaction.may_see_secrets(getattr(request, "user", None))


class MaskedErrorField(serializers.CharField):
    """Error text with URL passwords and query-string values masked, for everyone."""

    def to_representation(self, value) -> str:
        return redaction.mask_text(super().to_representation(value))


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
    circuit_state = serializers.ChoiceField(
        choices=["closed", "open", "half-open"],
        read_only=True,
        help_text=_(
            "closed: sending normally; open: waiting out a cool-down after a run of timeouts "
            "or errors; half-open: one probe request at a time."
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
            # What a GET showed masked, sent back unchanged, keeps the stored value.
            data = dict(data)
            if isinstance(data.get("url"), str):
                data["url"] = redaction.unmask_url(data["url"], self.instance.url)
            if "headers" in data:
                data["headers"] = redaction.unmask_headers(data["headers"], self.instance.headers)
        return super().to_internal_value(data)

    def update(self, instance: Endpoint, validated_data: dict) -> Endpoint:
        """Write only the fields sent, never the health columns loaded with the instance
        (workers update streaks and alerts meanwhile), as the admin and the portal do."""
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save(update_fields=[*validated_data, "updated_at"])
        return instance

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
    payload = serializers.JSONField(
        required=False, help_text=_("The test event's data; a short message when left out.")
    )


class AttemptSerializer(serializers.ModelSerializer):
    error = MaskedErrorField(read_only=True)

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
            "attempt_count",
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


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "tenant", "event_type", "payload", "idempotency_key", "created_at"]
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
    payload = serializers.JSONField(help_text=_("The event's data, any JSON value."))
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


class KeptHeadersField(serializers.JSONField):
    """Only the allow-listed headers (``WEBHOOKS["INBOUND_HEADERS"]``), also of older rows."""

    def to_representation(self, value):
        return redaction.kept_headers(value or {}, conf.get("INBOUND_HEADERS"))


class InboundEventSerializer(serializers.ModelSerializer):
    headers = KeptHeadersField(read_only=True)
    error = MaskedErrorField(read_only=True)

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
