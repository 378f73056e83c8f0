"""Receivers that supply their verifier by overriding a method, as docs/receiving.md shows."""

from django.urls import path

from tests.receivers import STANDARD_SECRET
from webhooks_app.receivers import StandardWebhooksVerifier, WebhookReceiverView


class VerifyOverridden(WebhookReceiverView):
    source = "verify-overridden"

    def verify(self, body, headers):
        StandardWebhooksVerifier(secret=STANDARD_SECRET).verify(body, headers)


class GetVerifierOverridden(WebhookReceiverView):
    source = "get-verifier-overridden"

    def get_verifier(self):
        return StandardWebhooksVerifier(secret=STANDARD_SECRET)


class Neither(WebhookReceiverView):
    source = "neither"


urlpatterns = [
    path("verify/", VerifyOverridden.as_view()),
    path("get-verifier/", GetVerifierOverridden.as_view()),
    path("neither/", Neither.as_view()),
]
