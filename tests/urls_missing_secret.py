"""A URLconf whose one receiver has a verifier but no secret (as in a build step)."""

from django.urls import path

from webhooks_app.receivers import StripeVerifier, WebhookReceiverView


class SecretNotSetHere(WebhookReceiverView):
    source = "build"
    verifier = StripeVerifier(secret="")


urlpatterns = [path("hooks/build/", SecretNotSetHere.as_view())]
