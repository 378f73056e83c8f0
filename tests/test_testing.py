"""``webhooks_app.testing``: the helpers users test their own receivers with.

The ``*_headers`` functions must produce what the matching verifier (and, for Standard
Webhooks, the reference libraries) accept; ``WebhookClient`` must get a signed request
through the real receiver views in ``tests/urls.py``; and the ``webhook_client`` fixture
must work once imported into a test module, as the module docstring tells users to do.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import svix.webhooks
from django.contrib.auth.models import Group
from django.http.request import HttpHeaders
from django.test import Client
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests import receivers
from webhooks_app import testing
from webhooks_app.models import InboundEvent
from webhooks_app.receivers import (
    GitHubVerifier,
    InvalidSignature,
    ShopifyVerifier,
    SlackVerifier,
    StandardWebhooksVerifier,
    StripeVerifier,
)
from webhooks_app.testing import (
    WebhookClient,
    webhook_client,  # noqa: F401  (a fixture, used by name)
)

PAYLOAD = {"id": "evt_1", "type": "order.paid", "data": {"order_id": 42, "note": "café"}}
BODY = testing.encode(PAYLOAD)

# (helper, verifier class, secret)
HELPERS = {
    "standard": (
        testing.standard_webhooks_headers,
        StandardWebhooksVerifier,
        receivers.STANDARD_SECRET,
    ),
    "stripe": (testing.stripe_headers, StripeVerifier, receivers.STRIPE_SECRET),
    "github": (testing.github_headers, GitHubVerifier, receivers.GITHUB_SECRET),
    "shopify": (testing.shopify_headers, ShopifyVerifier, receivers.SHOPIFY_SECRET),
    "slack": (testing.slack_headers, SlackVerifier, receivers.SLACK_SECRET),
}
OTHER_SECRETS = {
    "standard": "whsec_bmV3LXNlY3JldA==",
    "stripe": "whsec_another",
    "github": "another",
    "shopify": "another",
    "slack": "another",
}


def as_django_sees_them(headers: dict) -> HttpHeaders:
    return HttpHeaders({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})


@pytest.fixture(params=list(HELPERS), ids=str)
def helper(request):
    name = request.param
    make_headers, verifier_class, secret = HELPERS[name]
    return name, make_headers, verifier_class, secret


# --- encode -------------------------------------------------------------------------------


def test_encode_gives_compact_json_bytes():
    assert testing.encode({"a": 1, "b": [1, 2]}) == b'{"a":1,"b":[1,2]}'
    assert json.loads(BODY) == PAYLOAD


def test_encode_passes_bytes_through_untouched():
    raw = b'{"b": 1,  "a": 2}'
    assert testing.encode(raw) is raw


# --- the *_headers functions --------------------------------------------------------------


def test_headers_are_accepted_by_the_matching_verifier(helper):
    _, make_headers, verifier_class, secret = helper
    headers = make_headers(secret, BODY)
    verifier = verifier_class(secret=secret)  # the real clock: default timestamps are "now"
    assert verifier.verify(BODY, headers) is None
    assert verifier.verify(BODY, as_django_sees_them(headers)) is None


def test_headers_are_signed_with_the_given_secret_and_body(helper):
    name, make_headers, verifier_class, secret = helper
    with pytest.raises(InvalidSignature):
        verifier_class(secret=secret).verify(BODY, make_headers(OTHER_SECRETS[name], BODY))
    with pytest.raises(InvalidSignature):
        verifier_class(secret=secret).verify(BODY + b" ", make_headers(secret, BODY))


def test_headers_carry_the_ids_and_types_the_verifiers_read():
    std = testing.standard_webhooks_headers(receivers.STANDARD_SECRET, BODY, msg_id="msg_x")
    assert StandardWebhooksVerifier().event_id(PAYLOAD, std) == "msg_x"
    gh = testing.github_headers(receivers.GITHUB_SECRET, BODY, event="issues", delivery_id="d-9")
    assert GitHubVerifier().event_id(PAYLOAD, gh) == "d-9"
    assert GitHubVerifier().event_type({"action": "closed"}, gh) == "issues.closed"
    shop = testing.shopify_headers("s", BODY, topic="orders/paid", webhook_id="w-9")
    assert ShopifyVerifier().event_id(PAYLOAD, shop) == "w-9"
    assert ShopifyVerifier().event_type(PAYLOAD, shop) == "orders/paid"


def test_generated_ids_differ_from_call_to_call():
    # So that two posts in one test are two events, not a duplicate.
    first = testing.standard_webhooks_headers(receivers.STANDARD_SECRET, BODY)
    second = testing.standard_webhooks_headers(receivers.STANDARD_SECRET, BODY)
    assert first["webhook-id"] != second["webhook-id"]
    assert first["webhook-id"].startswith("msg_")
    github = [testing.github_headers("s", BODY)["X-GitHub-Delivery"] for _ in range(2)]
    shopify = [testing.shopify_headers("s", BODY)["X-Shopify-Webhook-Id"] for _ in range(2)]
    assert github[0] != github[1]
    assert shopify[0] != shopify[1]


def test_standard_webhooks_headers_reproduce_the_published_vector():
    headers = testing.standard_webhooks_headers(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        b'{"test": 2432232314}',
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


def test_github_headers_reproduce_the_published_vector():
    headers = testing.github_headers("It's a Secret to Everybody", b"Hello, World!")
    assert headers["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


@pytest.mark.parametrize("library", ["standardwebhooks", "svix"])
def test_standard_webhooks_headers_are_accepted_by_the_libraries(library):
    headers = testing.standard_webhooks_headers(receivers.STANDARD_SECRET, BODY)
    if library == "standardwebhooks":
        assert Webhook(receivers.STANDARD_SECRET).verify(BODY, headers) == PAYLOAD
    else:
        assert svix.webhooks.Webhook(receivers.STANDARD_SECRET).verify(BODY, headers) is None


def test_the_libraries_refuse_standard_webhooks_headers_for_another_secret():
    headers = testing.standard_webhooks_headers(OTHER_SECRETS["standard"], BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(receivers.STANDARD_SECRET).verify(BODY, headers)


@pytest.mark.parametrize("name", ["standard", "stripe", "slack"])
def test_an_explicit_timestamp_is_the_one_signed(name):
    make_headers, verifier_class, secret = HELPERS[name]
    stale = int(time.time()) - 3600
    headers = make_headers(secret, BODY, timestamp=stale)
    with pytest.raises(InvalidSignature):
        verifier_class(secret=secret).verify(BODY, headers)
    assert verifier_class(secret=secret, clock=lambda: stale).verify(BODY, headers) is None


# --- WebhookClient against the real receiver views ----------------------------------------


@pytest.fixture(autouse=True)
def _fresh_behaviour():
    receivers.behaviour.reset()
    yield
    receivers.behaviour.reset()


# (method, path, secret, payload, options, expected event_id, expected event_type)
POSTS = {
    "standard": (
        "post_standard_webhooks",
        "/hooks/standard/",
        receivers.STANDARD_SECRET,
        {"type": "order.paid", "timestamp": "2026-01-31T12:00:00+00:00", "data": {"id": 1}},
        {"msg_id": "msg_client_1"},
        "msg_client_1",
        "order.paid",
    ),
    "stripe": (
        "post_stripe",
        "/hooks/stripe/",
        receivers.STRIPE_SECRET,
        {"id": "evt_client_1", "type": "charge.succeeded", "data": {"object": {}}},
        {},
        "evt_client_1",
        "charge.succeeded",
    ),
    "github": (
        "post_github",
        "/hooks/github/",
        receivers.GITHUB_SECRET,
        {"action": "opened", "number": 7},
        {"event": "pull_request", "delivery_id": "gh-client-1"},
        "gh-client-1",
        "pull_request.opened",
    ),
    "shopify": (
        "post_shopify",
        "/hooks/shopify/",
        receivers.SHOPIFY_SECRET,
        {"id": 820982911946154500, "email": "jon@example.com"},
        {"topic": "orders/paid", "webhook_id": "shop-client-1"},
        "shop-client-1",
        "orders/paid",
    ),
    "slack": (
        "post_slack",
        "/hooks/slack/",
        receivers.SLACK_SECRET,
        {"type": "event_callback", "event_id": "Ev_client_1", "event": {"type": "app_mention"}},
        {},
        "Ev_client_1",
        "app_mention",
    ),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", list(POSTS))
def test_post_helper_is_processed_by_the_receiver(name):
    method, path, secret, payload, options, event_id, event_type = POSTS[name]
    response = getattr(WebhookClient(), method)(path, payload, secret=secret, **options)
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get()
    assert (event.source, event.event_id, event.event_type) == (name, event_id, event_type)
    assert event.payload == payload
    assert event.status == InboundEvent.Status.PROCESSED
    assert receivers.behaviour.runs == 1
    assert Group.objects.filter(name=f"{name}:{event_id}").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", list(POSTS))
def test_post_helper_with_a_wrong_secret_is_refused_and_stores_nothing(name):
    method, path, _, payload, options, _, _ = POSTS[name]
    response = getattr(WebhookClient(), method)(path, payload, secret="whsec_d3Jvbmc=", **options)
    assert response.status_code == 401
    assert not InboundEvent.objects.exists()
    assert receivers.behaviour.runs == 0


@pytest.mark.django_db(transaction=True)
def test_post_helper_replay_is_a_duplicate_and_runs_nothing():
    client = WebhookClient()
    for _ in range(2):
        response = client.post_standard_webhooks(
            "/hooks/standard/", {"type": "x"}, secret=receivers.STANDARD_SECRET, msg_id="msg_twice"
        )
        assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.duplicate_count == 1
    assert receivers.behaviour.runs == 1


@pytest.mark.django_db(transaction=True)
def test_post_helper_without_ids_makes_a_new_event_each_time():
    client = WebhookClient()
    for _ in range(2):
        response = client.post_github(
            "/hooks/github/", {"zen": "hi"}, secret=receivers.GITHUB_SECRET
        )
        assert response.status_code == 200
    assert InboundEvent.objects.count() == 2
    assert receivers.behaviour.runs == 2


@pytest.mark.django_db(transaction=True)
def test_post_helper_sends_bytes_exactly_as_given():
    raw = b'{"id": "evt_raw",   "type": "spaced.out"}'
    response = WebhookClient().post_stripe("/hooks/stripe/", raw, secret=receivers.STRIPE_SECRET)
    assert response.status_code == 200
    assert InboundEvent.objects.get().event_id == "evt_raw"


@pytest.mark.django_db(transaction=True)
def test_post_helper_sends_extra_headers():
    response = WebhookClient().post_shopify(
        "/hooks/shopify/",
        {"id": 1},
        secret=receivers.SHOPIFY_SECRET,
        headers={"X-Shopify-Shop-Domain": "shop.example"},
    )
    assert response.status_code == 200
    stored = {k.lower(): v for k, v in InboundEvent.objects.get().headers.items()}
    assert stored["x-shopify-shop-domain"] == "shop.example"


@pytest.mark.django_db(transaction=True)
def test_post_helper_passes_the_csrf_check_a_real_browser_client_would_face():
    client = WebhookClient(enforce_csrf_checks=True)
    response = client.post_stripe(
        "/hooks/stripe/", {"id": "evt_csrf", "type": "t"}, secret=receivers.STRIPE_SECRET
    )
    assert response.status_code == 200


# --- bugs found while testing the helpers ----------------------------------------------------
# A correctly signed body that is valid JSON but cannot be stored makes record() take the
# database's IntegrityError for a duplicate; the lookup of the "existing" row then raises
# DoesNotExist: an unhandled 500 that the sender retries for ever. Expected: a 4xx (or 200).

ON_POSTGRESQL = bool(os.environ.get("DATABASE_URL"))
UNSTORABLE = [
    pytest.param(b"null", id="null"),
    pytest.param(b'{"a": NaN}', id="NaN"),
    pytest.param(b'{"a": Infinity}', id="Infinity"),
    pytest.param(b'{"a": -Infinity}', id="-Infinity"),
    pytest.param(
        b'{"a": "\\u0000"}',
        id="NUL-character",
        marks=pytest.mark.skipif(not ON_POSTGRESQL, reason="jsonb only: SQLite stores it"),
    ),
    pytest.param(
        b'{"a": "\\ud800"}',
        id="lone-surrogate",
        marks=pytest.mark.skipif(not ON_POSTGRESQL, reason="jsonb only: SQLite stores it"),
    ),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("body", UNSTORABLE)
def test_a_signed_body_the_database_cannot_store_is_not_a_server_error(body):
    client = WebhookClient(raise_request_exception=False)
    response = client.post_standard_webhooks(
        "/hooks/standard/", body, secret=receivers.STANDARD_SECRET
    )
    assert response.status_code in (200, 400)
    assert InboundEvent.objects.count() == (response.status_code == 200)


# --- the pytest fixture --------------------------------------------------------------------


def test_webhook_client_is_a_django_test_client():
    assert issubclass(WebhookClient, Client)


@pytest.mark.django_db(transaction=True)
def test_the_webhook_client_fixture_works_when_imported(webhook_client):  # noqa: F811
    assert isinstance(webhook_client, WebhookClient)
    response = webhook_client.post_stripe(
        "/hooks/stripe/", {"id": "evt_fixture", "type": "t"}, secret=receivers.STRIPE_SECRET
    )
    assert response.status_code == 200
    assert InboundEvent.objects.get().event_id == "evt_fixture"
