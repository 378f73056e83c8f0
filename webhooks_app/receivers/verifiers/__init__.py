"""Signature verifiers for inbound webhooks, one class per provider.

Pure logic: no Django and no HTTP. Each class verifies its provider's signature
on the raw body (raising :class:`InvalidSignature` if anything is off), signs a
body the way its provider does (:meth:`Verifier.sign`, used by
``webhooks_app.testing``), and knows where its provider puts the event id and
type. Every secret may be a string or a list of strings (any of them may
match, for rotation), and every comparison is constant-time. A new provider
is one module here with one :class:`Verifier` subclass.
"""

from webhooks_app.receivers.verifiers.base import InvalidSignature, MissingSecret, Verifier
from webhooks_app.receivers.verifiers.generic_hmac import HmacVerifier
from webhooks_app.receivers.verifiers.github import GitHubVerifier
from webhooks_app.receivers.verifiers.shopify import ShopifyVerifier
from webhooks_app.receivers.verifiers.slack import SlackVerifier
from webhooks_app.receivers.verifiers.standard_webhooks import StandardWebhooksVerifier
from webhooks_app.receivers.verifiers.stripe import StripeVerifier

__all__ = [
    "GitHubVerifier",
    "HmacVerifier",
    "InvalidSignature",
    "MissingSecret",
    "ShopifyVerifier",
    "SlackVerifier",
    "StandardWebhooksVerifier",
    "StripeVerifier",
    "Verifier",
]
