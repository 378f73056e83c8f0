"""Every verifier through the real view: valid, replay, and each kind of bad request."""

import hashlib
import hmac
import time

import pytest
from django.contrib.auth.models import Group

from tests import receivers
from tests.receivers import behaviour
from webhooks_app import signing, testing
from webhooks_app.models import InboundEvent
from webhooks_app.testing import WebhookClient, encode

pytestmark = pytest.mark.django_db(transaction=True)


def hmac_headers(secret, body, *, event_id="ev-1"):
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Signature": f"sha256={digest}", "X-Event-Id": event_id}


# path, secret, header builder (secret, body) -> headers, signature header, timestamped
PROVIDERS = {
    "standard": (
        "/hooks/standard/",
        receivers.STANDARD_SECRET,
        lambda s, b, **kw: testing.standard_webhooks_headers(s, b, msg_id="msg_m", **kw),
        "webhook-signature",
        True,
    ),
    "stripe": (
        "/hooks/stripe/",
        receivers.STRIPE_SECRET,
        testing.stripe_headers,
        "Stripe-Signature",
        True,
    ),
    "github": (
        "/hooks/github/",
        receivers.GITHUB_SECRET,
        lambda s, b: testing.github_headers(s, b, delivery_id="d-1"),
        "X-Hub-Signature-256",
        False,
    ),
    "shopify": (
        "/hooks/shopify/",
        receivers.SHOPIFY_SECRET,
        lambda s, b: testing.shopify_headers(s, b, webhook_id="w-1"),
        "X-Shopify-Hmac-Sha256",
        False,
    ),
    "slack": (
        "/hooks/slack/",
        receivers.SLACK_SECRET,
        testing.slack_headers,
        "X-Slack-Signature",
        True,
    ),
    "hmac": ("/hooks/hmac/", receivers.HMAC_SECRET, hmac_headers, "X-Signature", False),
}
PAYLOAD = {"id": "evt_m", "event_id": "Ev_m", "type": "thing.happened"}


@pytest.fixture(autouse=True)
def _reset():
    behaviour.reset()
    yield
    behaviour.reset()


def post(path, body, headers):
    return WebhookClient().post(path, body, content_type="application/json", headers=headers)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_valid_is_handled_once_and_a_replay_runs_nothing(provider):
    path, secret, build, _, _ = PROVIDERS[provider]
    body = encode(PAYLOAD)
    headers = build(secret, body)

    first = post(path, body, headers)
    replay = post(path, body, headers)

    assert (first.status_code, first.json()["status"]) == (200, "processed")
    assert (replay.status_code, replay.json()["status"]) == (200, "duplicate")
    assert behaviour.runs == 1
    event = InboundEvent.objects.get()
    assert event.source == provider and event.duplicate_count == 1
    assert Group.objects.count() == 1


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["tampered_body", "wrong_secret", "missing_header"])
def test_bad_requests_are_4xx_with_nothing_stored_or_run(provider, fault):
    path, secret, build, signature_header, _ = PROVIDERS[provider]
    body = encode(PAYLOAD)
    wrong = signing.generate_secret() if provider == "standard" else "wrong-" + secret
    headers = build(wrong if fault == "wrong_secret" else secret, body)
    if fault == "tampered_body":
        body = encode({**PAYLOAD, "type": "thing.forged"})
    if fault == "missing_header":
        del headers[signature_header]

    response = post(path, body, headers)

    assert 400 <= response.status_code < 500
    assert not InboundEvent.objects.exists()
    assert behaviour.runs == 0


@pytest.mark.parametrize("provider", [p for p, spec in PROVIDERS.items() if spec[4]])
@pytest.mark.parametrize("offset", [-301, 301, -86_400])
def test_stale_or_future_timestamps_are_4xx_with_nothing_stored(provider, offset):
    path, secret, build, _, _ = PROVIDERS[provider]
    body = encode(PAYLOAD)
    response = post(path, body, build(secret, body, timestamp=int(time.time()) + offset))
    assert 400 <= response.status_code < 500
    assert not InboundEvent.objects.exists()
    assert behaviour.runs == 0
