"""Receiving webhooks: subclass :class:`WebhookReceiverView` and pick a verifier.

The verifiers import without Django being set up (so settings modules may use
them); the view is loaded on first access, once the app registry is ready.
"""

from typing import Any

from webhooks_app.receivers.messages import MessageVerifier, VerifiedMessage
from webhooks_app.receivers.verifiers import (
    GitHubVerifier,
    HmacVerifier,
    InvalidSignature,
    MissingSecret,
    ShopifyVerifier,
    SlackVerifier,
    StandardWebhooksVerifier,
    StripeVerifier,
    Verifier,
)

__all__ = [
    "GitHubVerifier",
    "HmacVerifier",
    "InvalidSignature",
    "MessageVerifier",
    "MissingSecret",
    "ShopifyVerifier",
    "SlackVerifier",
    "StandardWebhooksVerifier",
    "StripeVerifier",
    "VerifiedMessage",
    "Verifier",
    "WebhookReceiverView",
]


def __getattr__(name: str) -> Any:
    if name == "WebhookReceiverView":
        from webhooks_app.receivers.views import WebhookReceiverView

        return WebhookReceiverView
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
