"""A URLconf with receivers the system checks must flag."""

from django.urls import include, path

from webhooks_app.receivers import StripeVerifier, WebhookReceiverView


class NoVerifier(WebhookReceiverView):
    source = "none"


class EmptySecret(WebhookReceiverView):
    source = "empty"
    verifier = StripeVerifier(secret="")


urlpatterns = [
    path("a/", NoVerifier.as_view()),
    path("nested/", include([path("b/", EmptySecret.as_view())])),
]
