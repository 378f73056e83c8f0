"""Viewsets only the staff API offers: inbound events and the event-type catalog."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from webhooks_app import event_types
from webhooks_app.api.schema import NO_BODY, ActionSchema, ViewSchema
from webhooks_app.api.serializers import EventTypeSerializer, InboundEventSerializer
from webhooks_app.api.view_bases import Conflict, WebhooksViewSetMixin, datetime_filter
from webhooks_app.models import InboundEvent
from webhooks_app.receivers.processing import reprocess


class InboundEventViewSet(
    WebhooksViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Inbound events (webhooks received), one per source and event id."""

    queryset = InboundEvent.objects.order_by("-received_at", "-pk")
    serializer_class = InboundEventSerializer
    schema = ViewSchema(singular="InboundEvent", plural="InboundEvents", tags=["inbound-events"])
    query_filters = {
        "source": ("source", serializers.CharField(help_text=_("The receiver's source."))),
        "status": ("status", serializers.ChoiceField(choices=InboundEvent.Status.choices)),
        "event_type": ("event_type", serializers.CharField(help_text=_("Exact event type."))),
        "received_after": ("received_at__gte", datetime_filter(_("Received at or after."))),
        "received_before": ("received_at__lt", datetime_filter(_("Received before."))),
    }
    schema_actions = {
        "reprocess": ActionSchema(request=NO_BODY, statuses=("200",)),
    }
    action_permissions = {"reprocess": ("change_inboundevent",)}

    @action(detail=True, methods=["post"])
    def reprocess(self, request, pk=None):
        """Run the receiver's handler again for an event not processed yet; the answer
        shows how it went (``status`` and ``error``)."""
        event = self.get_object()
        if event.status == InboundEvent.Status.PROCESSED:
            raise Conflict(_("This event is processed already."))
        reprocess(InboundEvent.objects.filter(pk=event.pk))
        event.refresh_from_db()
        return Response(self.get_serializer(event).data)


class EventTypeViewSet(WebhooksViewSetMixin, viewsets.GenericViewSet):
    """The event-type catalog: the types registered in code, sorted by name.

    The catalog is not a model: like the API's root, it is open to whoever may use
    the API and holds any one permission of the app.
    """

    serializer_class = EventTypeSerializer
    pagination_class = None  # a short list, defined in code
    filter_backends = []
    lookup_field = "name"
    lookup_value_regex = r"[a-zA-Z0-9_.]+"
    # No queryset: DjangoModelPermissions, when configured, has no model to read.
    _ignore_model_permissions = True
    schema = ViewSchema(singular="EventType", plural="EventTypes", tags=["event-types"])

    def get_queryset(self):
        """The collection: a list, as the catalog is not a model (the browsable API asks)."""
        return event_types.all()

    def list(self, request):
        """Every registered event type."""
        return Response(self.get_serializer(self.get_queryset(), many=True).data)

    def retrieve(self, request, name=None):
        """One registered event type, by name."""
        found = event_types.get(name)
        if found is None:
            raise NotFound(_("No event type of that name is registered."))
        return Response(self.get_serializer(found).data)
