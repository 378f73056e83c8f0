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
    """``{"code", "reason", "until"}`` (an endpoint's with ``window``), read from the whole
    object (``source="*"``)."""

    reason = serializers.CharField(read_only=True, help_text=_("Why, in a sentence; may be empty."))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def describe(self, instance: Any) -> state.State:
        raise NotImplementedError

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return super().to_representation(self.describe(instance).as_dict())


class RecentTriesSerializer(serializers.Serializer):
    """The circuit breaker's window (:class:`~webhooks_app.sending.state.RecentTries`)."""

    seconds = serializers.FloatField(
        read_only=True,
        help_text=_(
            "How far back it looks, roughly: the current window of this many seconds, "
            "and the one before it at half weight (WEBHOOKS['CIRCUIT_BREAKER_WINDOW'])."
        ),
    )
    requests = serializers.IntegerField(read_only=True, help_text=_("Tries counted."))
    failures = serializers.IntegerField(
        read_only=True,
        help_text=_("Of them, timeouts, connection errors and retryable statuses."),
    )
    failure_rate = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text=_(
            "failures / requests, from 0 to 1 (null without requests): the circuit opens "
            "when it reaches WEBHOOKS['CIRCUIT_BREAKER_FAILURE_RATE']."
        ),
    )


class EndpointStateSerializer(_StateSerializer):
    code = NamedChoiceField(
        "EndpointStateCode",
        choices=list(state.ENDPOINT_CODES),
        read_only=True,
        help_text=_(
            "active; failing (failed tries in a row); paused (the endpoint asked to wait, "
            "429 with Retry-After); circuit_open (after a high failure rate or a run of "
            "timeouts or errors, until a probe); probing (one probe at a time); disabled "
            "(see reason)."
        ),
    )
    until = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=_("While paused or the circuit is open: when the next try or probe may go."),
    )
    window = RecentTriesSerializer(
        read_only=True,
        help_text=_(
            "Its recent tries, as the circuit breaker counts them: how many, how many failed, "
            "and the failure rate."
        ),
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
