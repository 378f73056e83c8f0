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
