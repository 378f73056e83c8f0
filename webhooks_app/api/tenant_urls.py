"""URLs of the customer-facing REST API:
``path("api/v1/webhooks/", include("webhooks_app.api.tenant_urls"))``.

Every route acts for the tenant that ``WEBHOOKS["TENANT_RESOLVER"]`` finds for the
request, and shows that tenant's objects alone (:mod:`webhooks_app.api.tenant_views`).
Names are in the ``webhooks_tenant_api`` namespace: ``webhooks_tenant_api:endpoint-list``,
``webhooks_tenant_api:delivery-retry``, ``webhooks_tenant_api:schema``, ...
"""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from webhooks_app.api import tenant_views

app_name = "webhooks_tenant_api"


class Router(DefaultRouter):
    APIRootView = tenant_views.TenantAPIRootView
    include_format_suffixes = False


router = Router()
router.register("endpoints", tenant_views.EndpointViewSet, basename="endpoint")
router.register("events", tenant_views.EventViewSet, basename="event")
router.register("deliveries", tenant_views.DeliveryViewSet, basename="delivery")
router.register("event-types", tenant_views.EventTypeViewSet, basename="event-type")

urlpatterns = [
    path("schema/", tenant_views.TenantSchemaView.as_view(patterns=router.urls), name="schema"),
    path("", include(router.urls)),
]
