from django.contrib import admin
from django.urls import include, path

from tests import receivers

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/webhooks/", include("webhooks_app.api.urls")),
    path("api/customer/webhooks/", include("webhooks_app.api.tenant_urls")),
    path("portal/", include("webhooks_app.portal.urls")),
    path("metrics/", include("webhooks_app.metrics.urls")),
    path("hooks/standard/", receivers.StandardReceiver.as_view()),
    path("hooks/rotating/", receivers.RotatingReceiver.as_view()),
    path("hooks/stripe/", receivers.StripeReceiver.as_view()),
    path("hooks/github/", receivers.GitHubReceiver.as_view()),
    path("hooks/shopify/", receivers.ShopifyReceiver.as_view()),
    path("hooks/slack/", receivers.SlackReceiver.as_view()),
    path("hooks/hmac/", receivers.HmacReceiver.as_view()),
    path("hooks/async/", receivers.AsyncReceiver.as_view()),
    path("hooks/typed/", receivers.TypedReceiver.as_view()),
    path("hooks/github-release/", receivers.GitHubReleaseReceiver.as_view()),
    path("hooks/github-bound/", receivers.GitHubBoundReceiver.as_view()),
    path("hooks/hmac-typed/", receivers.HmacTypedReceiver.as_view()),
    path("hooks/slack-form/", receivers.SlackFormReceiver.as_view()),
]
