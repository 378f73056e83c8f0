"""An endpoint's statistics (:func:`webhooks_app.observability.stats.endpoint_stats`)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from webhooks_app.observability.stats import STATUS_CLASSES


class BucketSerializer(serializers.Serializer):
    """The tries of one hour or one day, by outcome."""

    start = serializers.DateTimeField(read_only=True)
    succeeded = serializers.IntegerField(read_only=True, help_text=_("Answered 2xx."))
    retrying = serializers.IntegerField(
        read_only=True, help_text=_("Failed; the delivery was or will be tried again.")
    )
    failed = serializers.IntegerField(
        read_only=True, help_text=_("Failed; the last try of a delivery that failed for good.")
    )


# "2xx" ... are no Python names: the class is built from a dict.
StatusClassesSerializer = type(
    "StatusClassesSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "Tries by the class of their answer; ``error``: no answer (timeout, ...).",
        **{name: serializers.IntegerField(read_only=True) for name in STATUS_CLASSES},
    },
)


class LatencySerializer(serializers.Serializer):
    """Durations of the tries that reached the receiver (answered or timed out)."""

    p50 = serializers.IntegerField(source="p50_ms", read_only=True, allow_null=True)
    p99 = serializers.IntegerField(source="p99_ms", read_only=True, allow_null=True)


class LastTrySerializer(serializers.Serializer):
    status_code = serializers.IntegerField(read_only=True, allow_null=True)
    error_type = serializers.CharField(
        read_only=True,
        help_text=_("Why no answer came (timeout, connection, ...); empty with one."),
    )
    at = serializers.DateTimeField(read_only=True)


class EndpointStatsSerializer(serializers.Serializer):
    """An endpoint's tries: the last 24 hours (the current UTC hour and the 23 before it)
    in figures and by hour, the last 7 days (of the server's time zone) by day."""

    since = serializers.DateTimeField(read_only=True, help_text=_("Where the 24 hours start."))
    tries = serializers.IntegerField(read_only=True, help_text=_("Tries in the 24 hours."))
    success_rate = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text=_("The share of the 24 hours' tries answered 2xx, 0 to 1; null without tries."),
    )
    status_classes = StatusClassesSerializer(read_only=True)
    latency_ms = LatencySerializer(source="*", read_only=True)
    last_try = LastTrySerializer(read_only=True, allow_null=True)
    hourly = BucketSerializer(many=True, read_only=True)
    daily = BucketSerializer(many=True, read_only=True)
