"""The read-only ``state`` of endpoints and deliveries (:mod:`webhooks_app.sending.state`)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from webhooks_app.api.serializers.common import NamedChoiceField
from webhooks_app.models import Delivery, Endpoint
from webhooks_app.sending import state


class _StateSerializer(serializers.Serializer):
    """``{"code", "reason", "until"}``, read from the whole object (``source="*"``)."""

    reason = serializers.CharField(read_only=True, help_text=_("Why, in a sentence; may be empty."))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def describe(self, instance: Any) -> state.State:
        raise NotImplementedError

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return super().to_representation(self.describe(instance).as_dict())


class EndpointStateSerializer(_StateSerializer):
    code = NamedChoiceField(
        "EndpointStateCode",
        choices=list(state.ENDPOINT_CODES),
        read_only=True,
        help_text=_(
            "active; failing (failed tries in a row); paused (the endpoint asked to wait, "
            "429 with Retry-After); circuit_open (after a run of timeouts or errors, until "
            "a probe); probing (one probe at a time); disabled (see reason)."
        ),
    )
    until = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=_("While paused or the circuit is open: when the next try or probe may go."),
    )

    def describe(self, instance: Endpoint) -> state.State:
        return state.describe_endpoint(instance, timezone.now())


class DeliveryStateSerializer(_StateSerializer):
    code = NamedChoiceField(
        "DeliveryStateCode",
        choices=list(state.DELIVERY_CODES),
        read_only=True,
        help_text=_(
            "succeeded, failed (reason: the last error); or pending: sending (in flight), "
            "scheduled (until: its next try), due (goes out now), waiting (for its endpoint: "
            "until it reopens, or with no time while it is disabled)."
        ),
    )
    until = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=_("When its next try is, while that is still to come; never a past time."),
    )

    def describe(self, instance: Delivery) -> state.State:
        return state.describe_delivery(instance, instance.endpoint, timezone.now())
