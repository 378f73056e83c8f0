"""Each provider's ``sign``: verified by its own ``verify``, equal to the reference vectors,
to the documentation's oracles in tests/receivers/test_verifiers.py and, for Standard Webhooks, to
the ``standardwebhooks`` and ``svix`` libraries (the only providers' libraries installed).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

import pytest
import svix.webhooks
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.receivers.test_verifiers import (
    BODY,
    GITHUB_BODY,
    GITHUB_HEX,
    GITHUB_SECRET,
    NOW,
    PROVIDERS,
    STANDARD_OTHER,
    STANDARD_SECRET,
    VECTOR_BODY,
    VECTOR_HEADERS,
    VECTOR_ID,
    VECTOR_TS,
    Provider,
    django_headers,
)
from webhooks_app.receivers import (
    GitHubVerifier,
    InvalidSignature,
    MissingSecret,
    ShopifyVerifier,
    StandardWebhooksVerifier,
    StripeVerifier,
)


def clocked(provider: Provider, secret):
    verifier = provider.make(secret)
    verifier.clock = lambda: NOW
    return verifier


@pytest.fixture(params=PROVIDERS, ids=str)
def provider(request) -> Provider:
    return request.param


def test_sign_is_verified_by_its_own_verify(provider):
    verifier = clocked(provider, provider.secret)
    headers = verifier.sign(BODY)
    assert verifier.verify(BODY, headers) is None
    assert verifier.verify(BODY, django_headers(headers)) is None
    with pytest.raises(InvalidSignature):
        verifier.verify(BODY + b" ", headers)
    with pytest.raises(InvalidSignature):
        clocked(provider, provider.other_secret).verify(BODY, headers)


def test_sign_equals_the_documented_oracle(provider):
    # The oracles sign with fixed ids; sign carries the same ones where the provider has them.
    expected = provider.sign(provider.secret, BODY, NOW)
    ids = {
        "standard": "msg_test_1",
        "github": expected.get("X-GitHub-Delivery"),
        "shopify": expected.get("X-Shopify-Webhook-Id"),
    }
    signed = clocked(provider, provider.secret).sign(BODY, msg_id=ids.get(provider.name))
    assert signed == expected


def test_a_signed_timestamp_defaults_to_the_clock_and_can_be_given(provider):
    verifier = clocked(provider, provider.secret)
    late = verifier.sign(BODY, timestamp=NOW - 3600)
    if provider.timestamped:
        with pytest.raises(InvalidSignature):
            verifier.verify(BODY, late)
    else:
        assert verifier.verify(BODY, late) is None


def test_signing_without_a_secret_is_missing_secret_not_an_empty_key(provider):
    with pytest.raises(MissingSecret):
        clocked(provider, "").sign(BODY)


@pytest.mark.parametrize("verifier_class", [StandardWebhooksVerifier, StripeVerifier])
def test_schemes_with_several_signatures_sign_with_every_secret(verifier_class):
    secrets = (
        [STANDARD_SECRET, STANDARD_OTHER]
        if verifier_class is StandardWebhooksVerifier
        else ["whsec_new", "whsec_old"]
    )
    headers = verifier_class(secret=secrets, clock=lambda: NOW).sign(BODY)
    for secret in secrets:
        assert verifier_class(secret=secret, clock=lambda: NOW).verify(BODY, headers) is None


def test_schemes_with_one_signature_sign_with_the_first_secret():
    headers = GitHubVerifier(secret=["new", "old"]).sign(BODY)
    assert GitHubVerifier(secret="new").verify(BODY, headers) is None
    with pytest.raises(InvalidSignature):
        GitHubVerifier(secret="old").verify(BODY, headers)


def test_signed_ids_and_types_are_read_back_by_verified():
    github = GitHubVerifier(secret=GITHUB_SECRET)
    body = b'{"action":"closed"}'
    message = github.verified(body, github.sign(body, msg_id="d-1", event_type="issues"))
    assert (message.id, message.type) == ("d-1", "issues.closed")
    shopify = ShopifyVerifier(secret="s")
    message = shopify.verified(b"{}", shopify.sign(b"{}", msg_id="w-1", event_type="orders/paid"))
    assert (message.id, message.type) == ("w-1", "orders/paid")


# --- reference vectors (DESIGN.md, "Reference facts") --------------------------------------


def test_standard_webhooks_sign_reproduces_the_published_vector():
    verifier = StandardWebhooksVerifier(secret=STANDARD_SECRET)
    assert verifier.sign(VECTOR_BODY, msg_id=VECTOR_ID, timestamp=VECTOR_TS) == VECTOR_HEADERS


def test_github_sign_reproduces_the_published_vector():
    headers = GitHubVerifier(secret=GITHUB_SECRET).sign(GITHUB_BODY)
    assert headers["X-Hub-Signature-256"] == f"sha256={GITHUB_HEX}"


# --- the providers' own libraries ----------------------------------------------------------


@pytest.mark.parametrize("library", ["standardwebhooks", "svix"])
def test_standard_webhooks_sign_equals_the_libraries(library):
    signer = Webhook if library == "standardwebhooks" else svix.webhooks.Webhook
    signed_at = datetime.fromtimestamp(NOW, tz=UTC)
    theirs = signer(STANDARD_SECRET).sign("msg_lib", signed_at, BODY.decode())
    ours = StandardWebhooksVerifier(secret=STANDARD_SECRET).sign(
        BODY, msg_id="msg_lib", timestamp=NOW
    )
    assert ours["webhook-signature"] == theirs


@pytest.mark.parametrize("library", ["standardwebhooks", "svix"])
def test_the_libraries_verify_what_standard_webhooks_signs(library):
    verifier = Webhook if library == "standardwebhooks" else svix.webhooks.Webhook
    headers = StandardWebhooksVerifier(secret=STANDARD_SECRET).sign(BODY)  # now
    verifier(STANDARD_SECRET).verify(BODY, headers)
    with pytest.raises((WebhookVerificationError, svix.webhooks.WebhookVerificationError)):
        verifier(STANDARD_OTHER).verify(BODY, headers)


# --- constant time: Standard Webhooks compares every secret too -----------------------------


def test_standard_webhooks_compares_every_secret_even_when_the_first_matches(monkeypatch):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    third = "whsec_" + "dGhpcmQgc2VjcmV0IGtleSE="
    verifier = StandardWebhooksVerifier(
        secret=[STANDARD_SECRET, STANDARD_OTHER, third], clock=lambda: NOW
    )
    headers = StandardWebhooksVerifier(secret=STANDARD_SECRET).sign(BODY, timestamp=NOW)
    assert verifier.verify(BODY, headers) is None
    assert len(calls) == 3
