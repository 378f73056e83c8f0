"""What the API's serializers share: event-type patterns, who sees secrets, masked errors,
JSON the database can store."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from webhooks_app import redaction, validators


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


class StorableJSONField(serializers.JSONField):
    """Any JSON value the database can store and the app can process (see
    :func:`webhooks_app.validators.json_problem`): a 400 otherwise, never a 500."""

    default_error_messages = {"too_deep": _("The JSON is nested too deeply.")}

    def to_internal_value(self, data):
        try:
            value = super().to_internal_value(data)
        except RecursionError:  # a JSON string (HTML form input) parsed here
            self.fail("too_deep")
        problem = validators.json_problem(value)
        if problem:
            raise serializers.ValidationError(problem, code="unstorable_json")
        return value


class NamedChoiceField(serializers.ChoiceField):
    """A choice field whose set of choices has a name of its own in OpenAPI documents.

    drf-spectacular names an enum after its field, so ``Delivery.status`` and
    ``InboundEvent.status`` collided (a warning, and a name such as
    ``Status6b2Enum``); :mod:`webhooks_app.api.spectacular` gives it ``enum_name``
    instead, so that a project needs no ``ENUM_NAME_OVERRIDES`` for the app's enums.
    """

    def __init__(self, enum_name: str, **kwargs) -> None:
        self.enum_name = enum_name
        super().__init__(**kwargs)
