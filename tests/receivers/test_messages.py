"""The MessageVerifier Protocol: our verifiers, the adapter for verify-only ones, the view.

The view asks its verifier once per request for a VerifiedMessage. Our Verifier base
implements the Protocol; a user's verifier that only has ``verify(body, headers)`` keeps
working through ``VerifyOnly``, and so does a view that overrides ``verify()``.
"""

from __future__ import annotations

import dataclasses

import pytest
from django.test import override_settings

from tests import receivers
from tests.receivers import GITHUB_SECRET, SLACK_SECRET, behaviour
from tests.urls_own_verifiers import TOKEN, BareTokenVerifier, TokenVerifier, body_sha256
from webhooks_app.models import InboundEvent
from webhooks_app.receivers import (
    GitHubVerifier,
    HmacVerifier,
    InvalidSignature,
    MessageVerifier,
    ShopifyVerifier,
    SlackVerifier,
    StandardWebhooksVerifier,
    StripeVerifier,
    VerifiedMessage,
)
from webhooks_app.receivers.parsing import MalformedBody
from webhooks_app.receivers.verifiers.adapter import VerifyOnly, as_message_verifier
from webhooks_app.testing import WebhookClient, encode, github_headers

OURS = [
    StandardWebhooksVerifier,
    StripeVerifier,
    GitHubVerifier,
    ShopifyVerifier,
    SlackVerifier,
    HmacVerifier,
]


@pytest.mark.parametrize("verifier_class", OURS, ids=lambda c: c.__name__)
def test_our_verifiers_implement_the_protocol_themselves(verifier_class):
    verifier = verifier_class(secret="whsec_c2VjcmV0")
    assert isinstance(verifier, MessageVerifier)
    assert as_message_verifier(verifier) is verifier


def test_a_verified_message_is_frozen():
    message = VerifiedMessage(id="1", type="t", payload={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.id = "2"  # type: ignore[misc]


# --- our verifiers: verified() --------------------------------------------------------


def test_verified_reads_id_type_and_payload_by_the_provider_rules():
    verifier = GitHubVerifier(secret=GITHUB_SECRET)
    body = encode({"action": "opened", "number": 7})
    headers = github_headers(GITHUB_SECRET, body, event="pull_request", delivery_id="d-7")
    message = verifier.verified(body, headers)
    assert message == VerifiedMessage(
        id="d-7", type="pull_request.opened", payload={"action": "opened", "number": 7}
    )


def test_verified_checks_the_signature_before_parsing():
    verifier = GitHubVerifier(secret=GITHUB_SECRET)
    with pytest.raises(InvalidSignature):  # not MalformedBody: nothing is parsed unsigned
        verifier.verified(b"not json", github_headers("another", b"not json"))
    with pytest.raises(MalformedBody):
        verifier.verified(b"not json", github_headers(GITHUB_SECRET, b"not json"))


def test_verified_parses_by_the_content_type_header_or_the_given_parser():
    verifier = GitHubVerifier(secret=GITHUB_SECRET)
    body = b"payload=%7B%22zen%22%3A%22hi%22%7D"
    headers = github_headers(GITHUB_SECRET, body, event="ping")
    form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    assert verifier.verified(body, form).payload == {"zen": "hi"}
    with pytest.raises(MalformedBody):
        verifier.verified(body, headers)  # no content type: JSON
    assert verifier.verified(body, headers, parse=lambda raw: {"raw": raw}).payload == {"raw": body}


def test_slack_url_verification_is_a_handshake():
    verifier = SlackVerifier(secret=SLACK_SECRET)
    payload = {"type": "url_verification", "challenge": "c-1", "token": "x"}
    body = encode(payload)
    message = verifier.verified(body, verifier.sign(body))
    assert message.handshake == {"challenge": "c-1"}
    event = encode({"type": "event_callback", "event_id": "Ev1", "event": {"type": "x"}})
    assert verifier.verified(event, verifier.sign(event)).handshake is None


def test_default_tolerance_reaches_the_timestamp_check():
    verifier = StripeVerifier(secret="whsec_s", clock=lambda: 1_000_000)
    body = encode({"id": "evt_1", "type": "t"})
    headers = verifier.sign(body, timestamp=1_000_000 - 60)
    assert verifier.verified(body, headers, default_tolerance=60).id == "evt_1"
    with pytest.raises(InvalidSignature):
        verifier.verified(body, headers, default_tolerance=59)


# --- the adapter for verify-only verifiers --------------------------------------------


def test_a_verify_only_verifier_is_adapted_with_its_optional_methods():
    adapted = as_message_verifier(TokenVerifier())
    assert isinstance(adapted, VerifyOnly)
    body = encode({"ref": 42, "kind": "thing.done"})
    message = adapted.verified(body, {"X-Token": TOKEN})
    assert message == VerifiedMessage(
        id="42", type="thing.done", payload={"ref": 42, "kind": "thing.done"}
    )
    assert adapted.verified(encode({"echo": "e"}), {"X-Token": TOKEN}).handshake == {
        "challenge": "e"
    }
    with pytest.raises(InvalidSignature):
        adapted.verified(body, {"X-Token": "wrong"})


def test_a_bare_verify_only_verifier_gives_no_id_and_no_type():
    message = as_message_verifier(BareTokenVerifier()).verified(b"{}", {"X-Token": TOKEN})
    assert (message.id, message.type, message.handshake) == (None, "", None)


def test_verify_only_with_our_verifier_as_rules_reads_by_its_rules():
    check_calls = []
    adapted = VerifyOnly(lambda body, headers: check_calls.append(body), rules=SlackVerifier())
    body = encode({"type": "url_verification", "challenge": "c-2"})
    assert adapted.verified(body, {}).handshake == {"challenge": "c-2"}
    assert check_calls == [body]


# --- through the view -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _reset_behaviour():
    behaviour.reset()
    yield
    behaviour.reset()


def post(path: str, payload, headers: dict):
    with override_settings(ROOT_URLCONF="tests.urls_own_verifiers"):
        return WebhookClient().post(
            path, encode(payload), content_type="application/json", headers=headers
        )


@pytest.mark.django_db(transaction=True)
def test_a_users_verify_only_verifier_works_through_the_view():
    payload = {"ref": "r-1", "kind": "thing.done"}
    response = post("/own/", payload, {"X-Token": TOKEN})
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get()
    assert (event.source, event.event_id, event.event_type) == ("own", "r-1", "thing.done")
    assert behaviour.runs == 1
    assert post("/own/", payload, {"X-Token": TOKEN}).json()["status"] == "duplicate"
    assert post("/own/", {"ref": "r-2"}, {"X-Token": "forged"}).status_code == 401
    assert InboundEvent.objects.count() == 1 and behaviour.runs == 1


@pytest.mark.django_db(transaction=True)
def test_a_users_verify_only_verifier_can_answer_a_handshake():
    response = post("/own/", {"echo": "ping-1"}, {"X-Token": TOKEN})
    assert (response.status_code, response.json()) == (200, {"challenge": "ping-1"})
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_bare_verify_only_verifier_gets_the_body_hash_as_id():
    payload = {"type": "not.read"}
    response = post("/bare/", payload, {"X-Token": TOKEN})
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get()
    assert (event.event_id, event.event_type) == (body_sha256(encode(payload)), "")


@pytest.mark.django_db(transaction=True)
def test_a_verifier_written_to_the_protocol_works_through_the_view():
    response = post("/protocol/", {"ref": 5}, {"X-Token": TOKEN})
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get()
    assert (event.event_id, event.event_type) == ("p-5", "protocol.made")
    assert post("/protocol/", {"ref": 6}, {"X-Token": "forged"}).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_view_that_overrides_verify_keeps_its_verifiers_id_and_type():
    payload = {"action": "opened"}
    headers = github_headers(GITHUB_SECRET, encode(payload), event="issues", delivery_id="d-x")
    assert post("/github-extra/", payload, headers).status_code == 401  # its own check
    response = post("/github-extra/", payload, {**headers, "X-Extra": "yes"})
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get()
    assert (event.event_id, event.event_type) == ("d-x", "issues.opened")
    forged = github_headers("another", encode(payload), event="issues", delivery_id="d-y")
    assert post("/github-extra/", payload, {**forged, "X-Extra": "yes"}).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_the_view_asks_the_verifier_once(monkeypatch):
    calls = []
    verifier = receivers.StripeReceiver.verifier
    original = type(verifier).verified

    def counted(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(verifier), "verified", counted)
    response = WebhookClient().post_stripe(
        "/hooks/stripe/", {"id": "evt_once", "type": "t"}, secret=receivers.STRIPE_SECRET
    )
    assert response.status_code == 200
    assert len(calls) == 1
