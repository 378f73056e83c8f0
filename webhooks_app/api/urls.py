"""URLs of the REST API: ``path("api/webhooks/", include("webhooks_app.api.urls"))``.

Names are in the ``webhooks_api`` namespace: ``webhooks_api:endpoint-list``,
``webhooks_api:delivery-retry``, ``webhooks_api:schema``, ...
"""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from webhooks_app.api import staff_views, views
from webhooks_app.api.schema import SchemaView
from webhooks_app.api.view_bases import WebhooksAPIRootView

app_name = "webhooks_api"


class Router(DefaultRouter):
    APIRootView = WebhooksAPIRootView
    include_format_suffixes = False


router = Router()
router.register("endpoints", views.EndpointViewSet, basename="endpoint")
router.register("events", views.EventViewSet, basename="event")
router.register("deliveries", views.DeliveryViewSet, basename="delivery")
router.register("inbound-events", staff_views.InboundEventViewSet, basename="inbound-event")
router.register("event-types", staff_views.EventTypeViewSet, basename="event-type")

urlpatterns = [
    path("schema/", SchemaView.as_view(patterns=router.urls), name="schema"),
    path("", include(router.urls)),
]
