"""Receiver views used by the tests, one per verifier.

Each handler leaves a visible side effect (an auth Group named after the
event) so that tests can count how often it ran and see rollbacks.
"""

import threading
import time

from django.contrib.auth.models import Group

from webhooks_app.receivers import (
    GitHubVerifier,
    HmacVerifier,
    InvalidSignature,
    ShopifyVerifier,
    SlackVerifier,
    StandardWebhooksVerifier,
    StripeVerifier,
    WebhookReceiverView,
)

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STRIPE_SECRET = "whsec_stripe_test_secret"
GITHUB_SECRET = "It's a Secret to Everybody"
SHOPIFY_SECRET = "shopify-test-secret"
SLACK_SECRET = "slack-test-signing-secret"
HMAC_SECRET = "generic-test-secret"


class Behaviour:
    """What the next handler runs should do, set by tests (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fail_times = 0
        self.sleep = 0.0
        self.runs = 0

    def reset(self) -> None:
        with self.lock:
            self.fail_times, self.sleep, self.runs = 0, 0.0, 0


behaviour = Behaviour()


class TestReceiver(WebhookReceiverView):
    def handle(self, event):
        with behaviour.lock:
            behaviour.runs += 1
            fail = behaviour.fail_times > 0
            behaviour.fail_times -= int(fail)
        Group.objects.create(name=f"{self.source}:{event.event_id}")
        if behaviour.sleep:
            time.sleep(behaviour.sleep)
        if fail:
            raise RuntimeError("handler failed on purpose")


class StandardReceiver(TestReceiver):
    source = "standard"
    verifier = StandardWebhooksVerifier(secret=STANDARD_SECRET)


class RotatingReceiver(TestReceiver):
    source = "rotating"
    verifier = StandardWebhooksVerifier(secret=["whsec_bmV3LXNlY3JldA==", STANDARD_SECRET])


class StripeReceiver(TestReceiver):
    source = "stripe"
    verifier = StripeVerifier(secret=STRIPE_SECRET)


class GitHubReceiver(TestReceiver):
    source = "github"
    verifier = GitHubVerifier(secret=GITHUB_SECRET)


class ShopifyReceiver(TestReceiver):
    source = "shopify"
    verifier = ShopifyVerifier(secret=SHOPIFY_SECRET)


class SlackReceiver(TestReceiver):
    source = "slack"
    verifier = SlackVerifier(secret=SLACK_SECRET)


class HmacReceiver(TestReceiver):
    source = "hmac"
    verifier = HmacVerifier(
        secret=HMAC_SECRET, header="X-Signature", prefix="sha256=", id_header="X-Event-Id"
    )


class AsyncReceiver(TestReceiver):
    source = "async"
    verifier = StandardWebhooksVerifier(secret=STANDARD_SECRET)
    process_async = True


class TypedReceiver(WebhookReceiverView):
    """Handlers found by event type: handle_order_paid for "order.paid"."""

    source = "typed"
    verifier = StandardWebhooksVerifier(secret=STANDARD_SECRET)

    def handle_order_paid(self, event):
        Group.objects.create(name=f"paid:{event.event_id}")


class GitHubReleaseReceiver(TestReceiver):
    """Runs a release handler; its type comes from the unsigned X-GitHub-Event header."""

    source = "github-release"
    verifier = GitHubVerifier(secret=GITHUB_SECRET)

    def handle(self, event):
        super().handle(event)
        if event.event_type.startswith("release"):
            Group.objects.create(name=f"release:{event.event_id}")


class GitHubBoundReceiver(GitHubReleaseReceiver):
    """The documented hook: the type must match what the signed body carries."""

    source = "github-bound"

    def get_event_type(self, payload, headers):
        event_type = super().get_event_type(payload, headers)
        if not bound_to_body(event_type, payload):
            raise InvalidSignature("The event type does not match the signed body")
        return event_type


def bound_to_body(event_type: str, payload) -> bool:
    """GitHub puts the object of most events under a key named after the event."""
    name = event_type.partition(".")[0]
    if name == "ping":
        return isinstance(payload, dict) and "zen" in payload
    return isinstance(payload, dict) and name in payload


class HmacTypedReceiver(TestReceiver):
    """HmacVerifier with the type taken from the signed body, the header checked against it."""

    source = "hmac-typed"
    verifier = HmacVerifier(
        secret=HMAC_SECRET,
        header="X-Signature",
        prefix="sha256=",
        id_header="X-Event-Id",
        type_header="X-Event-Type",
        type_field="type",
    )

    def handle(self, event):
        super().handle(event)
        Group.objects.create(name=f"type:{event.event_type}")


class SlackFormReceiver(TestReceiver):
    """Slack's documented signing example: fixed secret, timestamp 1531420618."""

    source = "slack-form"
    verifier = SlackVerifier(
        secret="8f742231b10e8888abcd99yyyzzz85a5", clock=lambda: 1_531_420_618.5
    )
