"""Viewsets of the REST API's resources that the customer-facing API shares: endpoints,
events and deliveries (:mod:`webhooks_app.api.tenant_views` scopes them to a tenant).

What every view shares (permissions, pagination, query filters, errors) is in
:mod:`webhooks_app.api.view_bases`; the staff API's own resources, inbound events and
the event-type catalog, in :mod:`webhooks_app.api.staff_views`. Operator actions go
through :mod:`webhooks_app.operations`, like the admin's and the management commands',
so every front end does the same thing.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from webhooks_app import InvalidPayload, operations, send_event
from webhooks_app.api.filters import id_filter
from webhooks_app.api.schema import NO_BODY, ActionSchema, ViewSchema
from webhooks_app.api.serializers import (
    DeliveryDetailSerializer,
    DeliverySerializer,
    DisableEndpointSerializer,
    EndpointCreatedSerializer,
    EndpointSecretSerializer,
    EndpointSerializer,
    EndpointStatsSerializer,
    EventCreateSerializer,
    EventDetailSerializer,
    EventSerializer,
    SendTestSerializer,
)
from webhooks_app.api.view_bases import (
    Conflict,
    WebhooksViewSetMixin,
    datetime_filter,
    tenant_filter,
)
from webhooks_app.models import Delivery, Endpoint, Event
from webhooks_app.observability.stats import endpoint_stats
from webhooks_app.sending import fanout
from webhooks_app.sending.ordering import with_earlier_in_key

DEFAULT_DISABLED_REASON = _("Disabled through the API")
CANCELLED_REASON = _("Cancelled through the API")


class IdempotencyKeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = _(
        "This idempotency key was already used for an event with another type, payload or "
        "ordering key."
    )
    default_code = "idempotency_key_reused"


def _secret_response(endpoint: Endpoint, context: dict) -> Response:
    """The secret, in a response that no cache may keep."""
    response = Response(EndpointSecretSerializer(endpoint, context=context).data)
    add_never_cache_headers(response)
    return response


class EndpointViewSet(WebhooksViewSetMixin, viewsets.ModelViewSet):
    """Webhook endpoints, where events are sent.

    The secret is returned once, in the create response, and then only by the
    ``reveal-secret`` and ``rotate-secret`` actions.
    """

    queryset = Endpoint.objects.order_by("-created_at", "-pk")
    serializer_class = EndpointSerializer
    schema = ViewSchema(singular="Endpoint", plural="Endpoints", tags=["endpoints"])
    query_filters = {
        "is_active": ("is_active", serializers.BooleanField(help_text=_("Active or disabled."))),
        "tenant": ("tenant", tenant_filter()),
    }
    schema_actions = {
        "create": ActionSchema(response=EndpointCreatedSerializer),
        "reveal_secret": ActionSchema(response=EndpointSecretSerializer),
        "rotate_secret": ActionSchema(
            request=NO_BODY, response=EndpointSecretSerializer, statuses=("200",)
        ),
        "send_test": ActionSchema(
            request=SendTestSerializer, response=DeliverySerializer, statuses=("202",)
        ),
        "enable": ActionSchema(request=NO_BODY, statuses=("200",)),
        "disable": ActionSchema(request=DisableEndpointSerializer, statuses=("200",)),
        "stats": ActionSchema(response=EndpointStatsSerializer),
    }
    action_permissions = {
        "stats": ("view_endpoint",),
        "reveal_secret": ("view_endpoint", "view_endpoint_secret"),
        "rotate_secret": ("change_endpoint",),
        "send_test": ("add_event",),
        "enable": ("change_endpoint",),
        "disable": ("change_endpoint",),
    }

    def get_serializer_class(self):
        return {
            "send_test": SendTestSerializer,
            "disable": DisableEndpointSerializer,
            "stats": EndpointStatsSerializer,
        }.get(self.action, EndpointSerializer)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        context = self.get_serializer_context()
        data = EndpointCreatedSerializer(serializer.instance, context=context).data
        response = Response(data, status.HTTP_201_CREATED)
        add_never_cache_headers(response)
        return response

    def _single(self, endpoint: Endpoint):
        return Endpoint.objects.filter(pk=endpoint.pk)

    @action(detail=True, methods=["get"], url_path="reveal-secret")
    def reveal_secret(self, request, pk=None):
        """The endpoint's current secret."""
        return _secret_response(self.get_object(), self.get_serializer_context())

    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """Replace the secret with a new one, returned here; the old one signs during a grace
        period (``WEBHOOKS["SECRET_ROTATION_GRACE"]``)."""
        endpoint = self.get_object()
        operations.rotate_secrets(self._single(endpoint))
        endpoint.refresh_from_db()
        return _secret_response(endpoint, self.get_serializer_context())

    @action(detail=True, methods=["post"], url_path="send-test")
    def send_test(self, request, pk=None):
        """Send a ``webhooks.test`` event to this endpoint alone, whatever its event types."""
        endpoint = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        delivery = operations.send_test_event(endpoint, serializer.validated_data.get("payload"))
        delivery = Delivery.objects.select_related("event", "endpoint").get(pk=delivery.pk)
        data = DeliverySerializer(delivery, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        """Resume deliveries to a disabled endpoint (its pending ones go out on the next sweep)."""
        endpoint = self.get_object()
        operations.enable_endpoints(self._single(endpoint))
        endpoint.refresh_from_db()
        return Response(EndpointSerializer(endpoint, context=self.get_serializer_context()).data)

    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        """Stop deliveries to this endpoint, with an optional reason."""
        endpoint = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reason = serializer.validated_data.get("reason") or str(DEFAULT_DISABLED_REASON)
        operations.disable_endpoints(self._single(endpoint), reason)
        endpoint.refresh_from_db()
        return Response(EndpointSerializer(endpoint, context=self.get_serializer_context()).data)

    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        """The endpoint's tries: over the last 24 hours the success rate, the counts by
        status class and the p50 and p99 latency, by outcome per hour; by outcome per day
        over the last 7 days; and the latest try's answer."""
        stats = endpoint_stats(self.get_object())
        return Response(self.get_serializer(stats).data)


IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Same as the idempotency_key field: a repeated key returns the existing "
    "event (200) and sends nothing.",
    "schema": {"type": "string", "maxLength": 255},
}


class BaseEventViewSet(
    WebhooksViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Events, immutable once recorded, with their deliveries."""

    queryset = Event.objects.order_by("-created_at", "-pk")
    schema = ViewSchema(singular="Event", plural="Events", tags=["events"])
    query_filters = {
        "event_type": ("event_type", serializers.CharField(help_text=_("Exact event type."))),
        "created_after": ("created_at__gte", datetime_filter(_("Created at or after."))),
        "created_before": ("created_at__lt", datetime_filter(_("Created before."))),
        "tenant": ("tenant", tenant_filter()),
    }

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action != "list":
            # Prefetching sets each delivery's event: only the endpoints need a join.
            deliveries = self.get_delivery_queryset().select_related("endpoint").order_by("pk")
            queryset = queryset.prefetch_related(Prefetch("deliveries", queryset=deliveries))
        return queryset

    def get_delivery_queryset(self):
        """The deliveries shown with an event."""
        return with_earlier_in_key(Delivery.objects.all())

    def get_serializer_class(self):
        return EventSerializer if self.action == "list" else EventDetailSerializer


class EventViewSet(mixins.CreateModelMixin, BaseEventViewSet):
    """Events, immutable once recorded; creating one sends it to every matching active
    endpoint of its tenant."""

    schema_actions = {
        "create": ActionSchema(
            request=EventCreateSerializer,
            response=EventDetailSerializer,
            statuses=("201", "200"),
            parameters=(IDEMPOTENCY_HEADER,),
        ),
    }

    def get_serializer_class(self):
        if self.action == "create":
            return EventCreateSerializer
        return super().get_serializer_class()

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request is not None:
            context["idempotency_key_header"] = self.request.headers.get("Idempotency-Key")
        return context

    def create(self, request, *args, **kwargs):
        """Record an event for a tenant (the operator by default) and send it; an idempotency
        key (the ``Idempotency-Key`` header or the ``idempotency_key`` field) that tenant
        used already returns the first event with 200."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key, tenant = data.get("idempotency_key"), data["tenant"]
        ordering_key = data.get("ordering_key")
        existing = Event.objects.filter(tenant=tenant, idempotency_key=key).first() if key else None
        if existing is not None:
            sent = (data["event_type"], data["payload"], ordering_key or "")
            if (existing.event_type, existing.payload, existing.ordering_key) != sent:
                raise IdempotencyKeyReused()
            event, code = existing, status.HTTP_200_OK
        else:
            # A concurrent request with the same key may win the race: send_event then
            # returns its event, answered here with 201 all the same.
            try:
                event = send_event(
                    data["event_type"],
                    data["payload"],
                    tenant=tenant,
                    idempotency_key=key,
                    ordering_key=ordering_key,
                )
            except InvalidPayload as exc:  # WEBHOOKS["VALIDATE_PAYLOADS"] is on
                raise serializers.ValidationError({"payload": [str(exc)]}) from None
            fanout.expand_event(event.pk)  # so that the answer lists its deliveries
            code = status.HTTP_201_CREATED
        event = self.get_queryset().get(pk=event.pk)
        data = EventDetailSerializer(event, context=self.get_serializer_context()).data
        return Response(data, status=code)


class BaseDeliveryViewSet(
    WebhooksViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Deliveries, each one event to one endpoint, with the attempts made."""

    queryset = (
        Delivery.objects.select_related("event", "endpoint")
        .defer("event__payload")
        .order_by("-created_at", "-pk")
    )
    schema = ViewSchema(singular="Delivery", plural="Deliveries", tags=["deliveries"])
    query_filters = {
        "status": ("status", serializers.ChoiceField(choices=Delivery.Status.choices)),
        "endpoint": ("endpoint_id", id_filter(_("Endpoint id."))),
        "event": ("event_id", serializers.CharField(help_text=_("Event id."))),
        "event_type": (
            "event__event_type",
            serializers.CharField(help_text=_("Exact event type.")),
        ),
        "created_after": ("created_at__gte", datetime_filter(_("Created at or after."))),
        "created_before": ("created_at__lt", datetime_filter(_("Created before."))),
        "tenant": ("endpoint__tenant", tenant_filter()),
    }
    schema_actions = {"retry": ActionSchema(request=NO_BODY, statuses=("202",))}
    action_permissions = {"retry": ("change_delivery",)}

    def get_queryset(self):
        queryset = with_earlier_in_key(super().get_queryset())
        if self.action != "list":
            queryset = queryset.prefetch_related("attempts")
        return queryset

    def get_serializer_class(self):
        return DeliverySerializer if self.action == "list" else DeliveryDetailSerializer

    def _refreshed(self, delivery: Delivery) -> dict:
        return self.get_serializer(self.get_queryset().get(pk=delivery.pk)).data

    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Try a failed or pending delivery again now (a manual attempt)."""
        delivery = self.get_object()
        if not operations.retry_deliveries(Delivery.objects.filter(pk=delivery.pk)):
            raise Conflict(_("A delivery that succeeded is not sent again."))
        return Response(self._refreshed(delivery), status=status.HTTP_202_ACCEPTED)


class DeliveryViewSet(BaseDeliveryViewSet):
    """Deliveries, each one event to one endpoint, with the attempts made."""

    schema_actions = {
        **BaseDeliveryViewSet.schema_actions,
        "cancel": ActionSchema(request=NO_BODY, statuses=("200",)),
    }
    action_permissions = {**BaseDeliveryViewSet.action_permissions, "cancel": ("change_delivery",)}

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a pending delivery: it becomes failed and is not tried again."""
        delivery = self.get_object()
        reason = str(CANCELLED_REASON)
        if not operations.cancel_deliveries(Delivery.objects.filter(pk=delivery.pk), reason):
            raise Conflict(_("Only a pending delivery can be cancelled."))
        return Response(self._refreshed(delivery))
