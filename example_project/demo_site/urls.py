from django.contrib import admin
from django.urls import include, path
from shop.views import FlakyReceiver, ShopReceiver

urlpatterns = [
    # Endpoints, deliveries and received events, managed by staff.
    path("admin/", admin.site.urls),
    # The REST API (staff only by default): /api/webhooks/endpoints/, deliveries/, ...
    path("api/webhooks/", include("webhooks_app.api.urls")),
    # The same, for customers: their own endpoints, events and deliveries only (the
    # tenant is found by WEBHOOKS["TENANT_RESOLVER"]).
    path("api/customer/webhooks/", include("webhooks_app.api.tenant_urls")),
    # The customer portal: a tenant's own endpoints, opened by a signed link (portal_link).
    path("portal/", include("webhooks_app.portal.urls")),
    # Where the demo's endpoints point: this project receives its own webhooks.
    path("hooks/shop/", ShopReceiver.as_view(), name="shop-hook"),
    path("hooks/flaky/", FlakyReceiver.as_view(), name="flaky-hook"),
]
