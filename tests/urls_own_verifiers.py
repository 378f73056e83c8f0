"""Receivers with verifiers of the users' own, written without the Verifier base class.

docs/receiving.md ("Your own verifier"): an object with ``verify(body, headers)`` that
raises InvalidSignature, optionally ``event_id``, ``event_type`` and ``challenge``; or
one that implements the MessageVerifier Protocol (``verified``) by itself.
"""

import hashlib
import hmac

from django.urls import path

from tests.receivers import GITHUB_SECRET, TestReceiver
from webhooks_app.receivers import GitHubVerifier, InvalidSignature, VerifiedMessage
from webhooks_app.receivers.parsing import parse_json

TOKEN = "own-shared-token"


class TokenVerifier:
    """A verify-only verifier that reads the id and type from the payload's own keys."""

    def verify(self, body, headers):
        offered = (headers.get("X-Token") or "").encode()
        if not hmac.compare_digest(offered, TOKEN.encode()):
            raise InvalidSignature("Wrong token")

    def event_id(self, payload, headers):
        return payload.get("ref")

    def event_type(self, payload, headers):
        return payload.get("kind", "")

    def challenge(self, payload):
        return payload.get("echo")


class BareTokenVerifier:
    """``verify`` alone: the id falls back to the body's SHA-256, the type to ""."""

    verify = TokenVerifier.verify


class ProtocolVerifier:
    """The MessageVerifier Protocol written from scratch: one ``verified`` method."""

    def verified(self, body, headers, *, parse=None, default_tolerance=300):
        TokenVerifier().verify(body, headers)
        payload = (parse or parse_json)(body)
        return VerifiedMessage(id=f"p-{payload['ref']}", type="protocol.made", payload=payload)


class OwnReceiver(TestReceiver):
    source = "own"
    verifier = TokenVerifier()


class BareReceiver(TestReceiver):
    source = "bare"
    verifier = BareTokenVerifier()


class ProtocolReceiver(TestReceiver):
    source = "protocol"
    verifier = ProtocolVerifier()


class GitHubWithExtraCheck(TestReceiver):
    """Overrides verify() to add a check and keeps the verifier's through super()."""

    source = "github-extra"
    verifier = GitHubVerifier(secret=GITHUB_SECRET)

    def verify(self, body, headers):
        if headers.get("X-Extra") != "yes":
            raise InvalidSignature("The extra header is missing")
        super().verify(body, headers)


def body_sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


urlpatterns = [
    path("own/", OwnReceiver.as_view()),
    path("bare/", BareReceiver.as_view()),
    path("protocol/", ProtocolReceiver.as_view()),
    path("github-extra/", GitHubWithExtraCheck.as_view()),
]
