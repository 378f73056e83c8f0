"""The provider verifiers, as pure functions of (body, headers): no request, no database.

Each provider is signed here by an oracle written from the provider's documentation, not
by the code under test, and checked against the published vectors. The headers are passed
as a plain dict (in several letter cases) and as the case-insensitive mappings that
verifiers see in practice (Django's ``request.headers`` and requests' CaseInsensitiveDict).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import svix.webhooks
from django.http.request import HttpHeaders
from requests.structures import CaseInsensitiveDict
from standardwebhooks.webhooks import Webhook

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

NOW = 1_700_000_000
BODY = b'{"id":"evt_1","type":"order.paid","data":{"order_id":42}}'


def clock() -> float:
    return NOW


# --- oracles: how each provider signs, from its documentation ------------------------------


def _digest(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def sign_standard(secret: str, body: bytes, ts: int | str, msg_id: str = "msg_test_1") -> dict:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = _b64(_digest(key, f"{msg_id}.{ts}.".encode() + body))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": f"v1,{signature}",
    }


def sign_stripe(secret: str, body: bytes, ts: int | str) -> dict:
    signature = _digest(secret.encode(), f"{ts}.".encode() + body).hex()
    return {"Stripe-Signature": f"t={ts},v1={signature}"}


def sign_github(secret: str, body: bytes, ts: int | str = 0) -> dict:
    return {
        "X-Hub-Signature-256": "sha256=" + _digest(secret.encode(), body).hex(),
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    }


def sign_shopify(secret: str, body: bytes, ts: int | str = 0) -> dict:
    return {
        "X-Shopify-Hmac-Sha256": _b64(_digest(secret.encode(), body)),
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }


def sign_slack(secret: str, body: bytes, ts: int | str) -> dict:
    signature = _digest(secret.encode(), f"v0:{ts}:".encode() + body).hex()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={signature}"}


def sign_hmac_hex(secret: str, body: bytes, ts: int | str = 0) -> dict:
    return {"X-Signature": _digest(secret.encode(), body).hex()}


def sign_hmac_base64(secret: str, body: bytes, ts: int | str = 0) -> dict:
    return {"X-Webhook-Hmac": _b64(_digest(secret.encode(), body, "sha512"))}


def sign_hmac_prefix(secret: str, body: bytes, ts: int | str = 0) -> dict:
    return {"X-Hook-Signature": "sha256=" + _digest(secret.encode(), body).hex()}


# --- the providers under test ------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    name: str
    make: Callable[..., Verifier]  # make(secret, **options)
    sign: Callable[[str, bytes, int | str], dict]
    secret: str
    other_secret: str
    required: tuple[str, ...]  # headers without which nothing verifies
    malformed: Callable[[dict], list[dict]]  # variants of valid headers that must fail
    timestamped: bool = False

    def __str__(self) -> str:
        return self.name


def _with(headers: dict, **changes: str) -> dict:
    renamed = {name.replace("_", "-"): value for name, value in changes.items()}
    return {**headers, **renamed}


def _standard_malformed(h: dict) -> list[dict]:
    value = h["webhook-signature"].partition(",")[2]
    return [
        _with(h, webhook_signature="garbage"),
        _with(h, webhook_signature="v1,"),
        _with(h, webhook_signature=f"v2,{value}"),  # the right value under another version
        _with(h, webhook_signature=value),  # no version at all
        _with(h, webhook_signature=f"v1,{value[:-4]}"),  # truncated
    ]


def _stripe_malformed(h: dict) -> list[dict]:
    t, v1 = (part.partition("=")[2] for part in h["Stripe-Signature"].split(","))
    return [
        {"Stripe-Signature": "garbage"},
        {"Stripe-Signature": f"t={t}"},
        {"Stripe-Signature": f"v1={v1}"},
        {"Stripe-Signature": f"t={t},t={t},v1={v1}"},
        {"Stripe-Signature": f"t={t},v0={v1}"},
        {"Stripe-Signature": f"t={t},v1={v1[:-2]}"},
    ]


def _github_malformed(h: dict) -> list[dict]:
    value = h["X-Hub-Signature-256"].partition("=")[2]
    return [
        _with(h, **{"X-Hub-Signature-256": "garbage"}),
        _with(h, **{"X-Hub-Signature-256": value}),
        _with(h, **{"X-Hub-Signature-256": f"sha1={value}"}),
        _with(h, **{"X-Hub-Signature-256": "sha256="}),
        _with(h, **{"X-Hub-Signature-256": f"sha256={value[:-2]}"}),
    ]


def _shopify_malformed(h: dict) -> list[dict]:
    raw = base64.b64decode(h["X-Shopify-Hmac-Sha256"])
    return [
        _with(h, **{"X-Shopify-Hmac-Sha256": "garbage!!"}),
        _with(h, **{"X-Shopify-Hmac-Sha256": raw.hex()}),  # hex, not base64
        _with(h, **{"X-Shopify-Hmac-Sha256": _b64(raw[:-1])}),
    ]


def _slack_malformed(h: dict) -> list[dict]:
    value = h["X-Slack-Signature"].partition("=")[2]
    return [
        _with(h, **{"X-Slack-Signature": "garbage"}),
        _with(h, **{"X-Slack-Signature": value}),
        _with(h, **{"X-Slack-Signature": f"v1={value}"}),
        _with(h, **{"X-Slack-Signature": f"v0={value[:-2]}"}),
    ]


def _hmac_hex_malformed(h: dict) -> list[dict]:
    value = h["X-Signature"]
    return [
        {"X-Signature": "garbage"},
        {"X-Signature": _b64(bytes.fromhex(value))},  # base64, not hex
        {"X-Signature": value[:-2]},
    ]


def _hmac_base64_malformed(h: dict) -> list[dict]:
    value = h["X-Webhook-Hmac"]
    return [
        {"X-Webhook-Hmac": "garbage"},
        {"X-Webhook-Hmac": base64.b64decode(value).hex()},  # hex, not base64
        {"X-Webhook-Hmac": value.lower()},
    ]


def _hmac_prefix_malformed(h: dict) -> list[dict]:
    value = h["X-Hook-Signature"].removeprefix("sha256=")
    return [
        {"X-Hook-Signature": value},  # the right digest without its prefix
        {"X-Hook-Signature": f"sha1={value}"},
        {"X-Hook-Signature": "sha256=garbage"},
    ]


STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STANDARD_OTHER = "whsec_" + _b64(b"another secret of 24 byte")

PROVIDERS = [
    Provider(
        "standard",
        lambda secret, **kw: StandardWebhooksVerifier(secret=secret, clock=clock, **kw),
        sign_standard,
        STANDARD_SECRET,
        STANDARD_OTHER,
        ("webhook-id", "webhook-timestamp", "webhook-signature"),
        _standard_malformed,
        timestamped=True,
    ),
    Provider(
        "stripe",
        lambda secret, **kw: StripeVerifier(secret=secret, clock=clock, **kw),
        sign_stripe,
        "whsec_stripe_test_secret",
        "whsec_stripe_other_secret",
        ("Stripe-Signature",),
        _stripe_malformed,
        timestamped=True,
    ),
    Provider(
        "github",
        lambda secret, **kw: GitHubVerifier(secret=secret, clock=clock, **kw),
        sign_github,
        "It's a Secret to Everybody",
        "It's another secret",
        ("X-Hub-Signature-256",),
        _github_malformed,
    ),
    Provider(
        "shopify",
        lambda secret, **kw: ShopifyVerifier(secret=secret, clock=clock, **kw),
        sign_shopify,
        "shopify-secret",
        "shopify-other-secret",
        ("X-Shopify-Hmac-Sha256",),
        _shopify_malformed,
    ),
    Provider(
        "slack",
        lambda secret, **kw: SlackVerifier(secret=secret, clock=clock, **kw),
        sign_slack,
        "8f742231b10e8888abcd99yyyzzz85a5",
        "slack-other-secret",
        ("X-Slack-Request-Timestamp", "X-Slack-Signature"),
        _slack_malformed,
        timestamped=True,
    ),
    Provider(
        "hmac-hex",
        lambda secret, **kw: HmacVerifier(secret=secret, clock=clock, **kw),
        sign_hmac_hex,
        "generic-secret",
        "generic-other-secret",
        ("X-Signature",),
        _hmac_hex_malformed,
    ),
    Provider(
        "hmac-base64",
        lambda secret, **kw: HmacVerifier(
            secret=secret, header="X-Webhook-Hmac", algorithm="sha512", encoding="base64", **kw
        ),
        sign_hmac_base64,
        "generic-secret",
        "generic-other-secret",
        ("X-Webhook-Hmac",),
        _hmac_base64_malformed,
    ),
    Provider(
        "hmac-prefix",
        lambda secret, **kw: HmacVerifier(
            secret=secret, header="X-Hook-Signature", prefix="sha256=", **kw
        ),
        sign_hmac_prefix,
        "generic-secret",
        "generic-other-secret",
        ("X-Hook-Signature",),
        _hmac_prefix_malformed,
    ),
]
TIMESTAMPED = [p for p in PROVIDERS if p.timestamped]
BY_NAME = {p.name: p for p in PROVIDERS}


# --- header mappings: what a verifier may be handed ---------------------------------------


def django_headers(headers: dict) -> HttpHeaders:
    """The headers as Django's ``request.headers`` presents them (built from META)."""
    return HttpHeaders({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})


MAPPINGS = {
    "dict": dict,
    "dict-lowercase": lambda h: {k.lower(): v for k, v in h.items()},
    "dict-uppercase": lambda h: {k.upper(): v for k, v in h.items()},
    "django-HttpHeaders": django_headers,
    "requests-CaseInsensitiveDict": CaseInsensitiveDict,
}


@pytest.fixture(params=PROVIDERS, ids=str)
def provider(request) -> Provider:
    return request.param


@pytest.fixture(params=TIMESTAMPED, ids=str)
def timestamped(request) -> Provider:
    return request.param


@pytest.fixture(params=list(MAPPINGS.values()), ids=list(MAPPINGS))
def as_mapping(request) -> Callable[[dict], object]:
    return request.param


# --- official vectors --------------------------------------------------------------------

VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
VECTOR_HEADERS = {
    "webhook-id": VECTOR_ID,
    "webhook-timestamp": str(VECTOR_TS),
    "webhook-signature": VECTOR_SIGNATURE,
}

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_HEX = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_the_oracles_reproduce_the_published_vectors():
    assert sign_standard(STANDARD_SECRET, VECTOR_BODY, VECTOR_TS, VECTOR_ID) == VECTOR_HEADERS
    assert sign_github(GITHUB_SECRET, GITHUB_BODY)["X-Hub-Signature-256"] == f"sha256={GITHUB_HEX}"


def test_standard_webhooks_vector_verifies(as_mapping):
    verifier = StandardWebhooksVerifier(secret=STANDARD_SECRET, clock=lambda: VECTOR_TS)
    assert verifier.verify(VECTOR_BODY, as_mapping(VECTOR_HEADERS)) is None


def test_standard_webhooks_vector_is_stale_by_the_real_clock():
    with pytest.raises(InvalidSignature):
        StandardWebhooksVerifier(secret=STANDARD_SECRET).verify(VECTOR_BODY, VECTOR_HEADERS)


@pytest.mark.parametrize(
    "change",
    [
        {"webhook-signature": VECTOR_SIGNATURE.replace("g0hM", "g0hN")},
        {"webhook-id": VECTOR_ID + "x"},
        {"webhook-timestamp": str(VECTOR_TS + 1)},
    ],
    ids=["signature", "id", "timestamp"],
)
def test_standard_webhooks_vector_fails_when_any_signed_header_changes(change):
    verifier = StandardWebhooksVerifier(secret=STANDARD_SECRET, clock=lambda: VECTOR_TS)
    with pytest.raises(InvalidSignature):
        verifier.verify(VECTOR_BODY, {**VECTOR_HEADERS, **change})


def test_github_vector_verifies(as_mapping):
    headers = as_mapping({"X-Hub-Signature-256": f"sha256={GITHUB_HEX}"})
    assert GitHubVerifier(secret=GITHUB_SECRET).verify(GITHUB_BODY, headers) is None


def test_github_vector_fails_with_another_body_or_secret():
    headers = {"X-Hub-Signature-256": f"sha256={GITHUB_HEX}"}
    with pytest.raises(InvalidSignature):
        GitHubVerifier(secret=GITHUB_SECRET).verify(b"Hello, World?", headers)
    with pytest.raises(InvalidSignature):
        GitHubVerifier(secret="It's a secret to everybody").verify(GITHUB_BODY, headers)


# --- interop: the standardwebhooks and svix libraries as senders --------------------------


def _library_headers(library: str, secret: str, msg_id: str, body: bytes, prefix: str) -> dict:
    signer = Webhook(secret) if library == "standardwebhooks" else svix.webhooks.Webhook(secret)
    now = datetime.now(tz=UTC)
    return {
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": str(int(now.timestamp())),
        f"{prefix}-signature": signer.sign(msg_id, now, body.decode()),
    }


@pytest.mark.parametrize("library", ["standardwebhooks", "svix"])
@pytest.mark.parametrize("prefix", ["webhook", "svix"])
@pytest.mark.parametrize(
    "secret",
    [STANDARD_SECRET, "whsec_" + _b64(b"a 32-byte secret, like ours!!..."), "whsec_" + _b64(b"x")],
    ids=["vector", "32-bytes", "1-byte"],
)
def test_requests_signed_by_the_libraries_verify(library, prefix, secret, as_mapping):
    headers = _library_headers(library, secret, "msg_interop_1", BODY, prefix)
    verifier = StandardWebhooksVerifier(secret=secret)  # the real clock
    assert verifier.verify(BODY, as_mapping(headers)) is None
    assert verifier.event_id({}, as_mapping(headers)) == "msg_interop_1"


@pytest.mark.parametrize("library", ["standardwebhooks", "svix"])
def test_requests_signed_by_the_libraries_fail_with_another_secret_or_body(library):
    headers = _library_headers(library, STANDARD_SECRET, "msg_interop_2", BODY, "svix")
    with pytest.raises(InvalidSignature):
        StandardWebhooksVerifier(secret=STANDARD_OTHER).verify(BODY, headers)
    with pytest.raises(InvalidSignature):
        StandardWebhooksVerifier(secret=STANDARD_SECRET).verify(BODY + b" ", headers)


def test_library_signatures_for_two_secrets_in_one_header_verify_with_either():
    old = _library_headers("svix", STANDARD_OTHER, "msg_rot", BODY, "svix")
    new = _library_headers("svix", STANDARD_SECRET, "msg_rot", BODY, "svix")
    both = {**new, "svix-signature": f"{new['svix-signature']} {old['svix-signature']}"}
    for secret in (STANDARD_SECRET, STANDARD_OTHER):
        assert StandardWebhooksVerifier(secret=secret).verify(BODY, both) is None


def test_an_unpadded_secret_the_libraries_accept_verifies_too():
    secret = "whsec_" + _b64(b"31 bytes of secret key material").rstrip("=")
    headers = _library_headers("standardwebhooks", secret, "msg_unpadded", BODY, "webhook")
    assert StandardWebhooksVerifier(secret=secret).verify(BODY, headers) is None


# --- every verifier: valid, tampered, wrong secret, missing and malformed headers ---------


def test_a_valid_signature_verifies(provider, as_mapping):
    headers = provider.sign(provider.secret, BODY, NOW)
    assert provider.make(provider.secret).verify(BODY, as_mapping(headers)) is None


@pytest.mark.parametrize(
    "tampered",
    [BODY + b" ", BODY.replace(b"42", b"43"), b"", BODY[:-1]],
    ids=["trailing-space", "changed", "empty", "truncated"],
)
def test_a_tampered_body_is_refused(provider, tampered, as_mapping):
    headers = provider.sign(provider.secret, BODY, NOW)
    with pytest.raises(InvalidSignature):
        provider.make(provider.secret).verify(tampered, as_mapping(headers))


def test_a_wrong_secret_is_refused(provider, as_mapping):
    headers = provider.sign(provider.other_secret, BODY, NOW)
    with pytest.raises(InvalidSignature):
        provider.make(provider.secret).verify(BODY, as_mapping(headers))


def test_a_missing_header_is_refused(provider, as_mapping):
    valid = provider.sign(provider.secret, BODY, NOW)
    for name in provider.required:
        without = {k: v for k, v in valid.items() if k != name}
        with pytest.raises(InvalidSignature):
            provider.make(provider.secret).verify(BODY, as_mapping(without))
        with pytest.raises(InvalidSignature):
            provider.make(provider.secret).verify(BODY, as_mapping({**valid, name: ""}))


def test_no_headers_at_all_are_refused(provider):
    with pytest.raises(InvalidSignature):
        provider.make(provider.secret).verify(BODY, {})


def test_a_malformed_signature_header_is_refused(provider, as_mapping):
    variants = provider.malformed(provider.sign(provider.secret, BODY, NOW))
    assert variants
    for headers in variants:
        with pytest.raises(InvalidSignature):
            provider.make(provider.secret).verify(BODY, as_mapping(headers))


def test_errors_never_quote_the_secret_or_the_expected_signature(provider):
    expected = provider.sign(provider.secret, BODY, NOW)
    tokens = [t for v in expected.values() for t in re.findall(r"[0-9A-Za-z+/=]{16,}", v)]
    offered = provider.sign(provider.other_secret, BODY, NOW)
    with pytest.raises(InvalidSignature) as caught:
        provider.make(provider.secret).verify(BODY, offered)
    message = str(caught.value)
    assert provider.secret not in message
    for token in tokens:
        if token not in str(offered):  # the ids are neither secret nor signature
            assert token not in message


# --- timestamps: tolerance both ways, tolerance= and default_tolerance= -------------------


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400])
def test_a_stale_timestamp_is_refused_both_ways(timestamped, offset, as_mapping):
    headers = timestamped.sign(timestamped.secret, BODY, NOW + offset)
    with pytest.raises(InvalidSignature):
        timestamped.make(timestamped.secret).verify(BODY, as_mapping(headers))


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_a_timestamp_within_the_default_tolerance_passes(timestamped, offset):
    headers = timestamped.sign(timestamped.secret, BODY, NOW + offset)
    assert timestamped.make(timestamped.secret).verify(BODY, headers) is None


@pytest.mark.parametrize("value", ["soon", "1700000000.5", "-"])
def test_a_timestamp_that_is_not_a_whole_number_is_refused(timestamped, value):
    # Signed over the very string, so only the timestamp check can refuse it.
    headers = timestamped.sign(timestamped.secret, BODY, value)
    with pytest.raises(InvalidSignature):
        timestamped.make(timestamped.secret).verify(BODY, headers)


@pytest.mark.parametrize("offset", [-11, 11])
def test_tolerance_is_honoured(timestamped, offset):
    verifier = timestamped.make(timestamped.secret, tolerance=10)
    near = timestamped.sign(timestamped.secret, BODY, NOW + offset // 2)
    assert verifier.verify(BODY, near) is None
    with pytest.raises(InvalidSignature):
        verifier.verify(BODY, timestamped.sign(timestamped.secret, BODY, NOW + offset))


def test_a_wide_tolerance_accepts_older_timestamps(timestamped):
    verifier = timestamped.make(timestamped.secret, tolerance=3600)
    headers = timestamped.sign(timestamped.secret, BODY, NOW - 3000)
    assert verifier.verify(BODY, headers) is None


def test_default_tolerance_is_honoured(timestamped):
    verifier = timestamped.make(timestamped.secret)
    near = timestamped.sign(timestamped.secret, BODY, NOW - 9)
    far = timestamped.sign(timestamped.secret, BODY, NOW - 11)
    assert verifier.verify(BODY, near, default_tolerance=10) is None
    with pytest.raises(InvalidSignature):
        verifier.verify(BODY, far, default_tolerance=10)
    older = timestamped.sign(timestamped.secret, BODY, NOW - 3000)
    assert verifier.verify(BODY, older, default_tolerance=3600) is None


def test_tolerance_wins_over_default_tolerance(timestamped):
    headers = timestamped.sign(timestamped.secret, BODY, NOW - 500)
    assert (
        timestamped.make(timestamped.secret, tolerance=600).verify(
            BODY, headers, default_tolerance=10
        )
        is None
    )
    with pytest.raises(InvalidSignature):
        timestamped.make(timestamped.secret, tolerance=10).verify(
            BODY, headers, default_tolerance=600
        )


def test_a_zero_tolerance_means_zero(timestamped):
    verifier = timestamped.make(timestamped.secret, tolerance=0)
    assert verifier.verify(BODY, timestamped.sign(timestamped.secret, BODY, NOW)) is None
    with pytest.raises(InvalidSignature):
        verifier.verify(BODY, timestamped.sign(timestamped.secret, BODY, NOW - 1))


def test_the_clock_is_read_at_verification_time(timestamped):
    now = [NOW]
    verifier = timestamped.make(timestamped.secret)
    verifier.clock = lambda: now[0]
    headers = timestamped.sign(timestamped.secret, BODY, NOW)
    assert verifier.verify(BODY, headers) is None
    now[0] = NOW + 301
    with pytest.raises(InvalidSignature):
        verifier.verify(BODY, headers)


@pytest.mark.parametrize("provider_name", [p.name for p in PROVIDERS if not p.timestamped], ids=str)
def test_untimestamped_providers_do_not_depend_on_the_clock(provider_name):
    provider = BY_NAME[provider_name]
    verifier = provider.make(provider.secret)
    verifier.clock = lambda: 0
    assert verifier.verify(BODY, provider.sign(provider.secret, BODY, NOW)) is None


# --- secrets: rotation lists, and never "accept all" -------------------------------------


@pytest.mark.parametrize("order", ["old-first", "new-first"])
def test_a_list_of_secrets_accepts_each_of_them(provider, order, as_mapping):
    secrets = [provider.other_secret, provider.secret]
    verifier = provider.make(secrets if order == "old-first" else secrets[::-1])
    for secret in secrets:
        assert verifier.verify(BODY, as_mapping(provider.sign(secret, BODY, NOW))) is None


def test_a_list_of_secrets_still_refuses_a_third(provider):
    third = (
        "whsec_" + _b64(b"a third secret, not listed")
        if provider.name == "standard"
        else "not-listed-secret"
    )
    verifier = provider.make([provider.other_secret, provider.secret])
    with pytest.raises(InvalidSignature):
        verifier.verify(BODY, provider.sign(third, BODY, NOW))


def test_a_tuple_of_secrets_works_like_a_list(provider):
    verifier = provider.make((provider.other_secret, provider.secret))
    assert verifier.verify(BODY, provider.sign(provider.secret, BODY, NOW)) is None


@pytest.mark.parametrize("empty", ["", None, [], [""], ("", "")], ids=repr)
def test_an_empty_secret_raises_missing_secret_and_never_accepts(provider, empty):
    verifier = provider.make(empty)
    # Signed with the empty key where the provider allows one; with a real key otherwise.
    signed_with = "" if provider.name != "standard" else provider.secret
    for headers in (provider.sign(signed_with, BODY, NOW), {}):
        with pytest.raises(MissingSecret):
            verifier.verify(BODY, headers)


def test_missing_secret_is_not_an_invalid_signature():
    # The view answers InvalidSignature with 401 and MissingSecret with 500: keep them apart.
    assert not issubclass(MissingSecret, InvalidSignature)
    assert not issubclass(InvalidSignature, MissingSecret)


def test_a_malformed_standard_webhooks_secret_is_a_configuration_error():
    verifier = StandardWebhooksVerifier(secret="whsec_not base64!", clock=clock)
    with pytest.raises(MissingSecret):
        verifier.verify(BODY, sign_standard(STANDARD_SECRET, BODY, NOW))


def test_stripe_is_keyed_with_the_whole_whsec_string_not_its_decoded_part():
    secret = STANDARD_SECRET  # a whsec_ string whose tail is valid base64
    key = base64.b64decode(secret.removeprefix("whsec_"))
    decoded = _digest(key, f"{NOW}.".encode() + BODY).hex()
    with pytest.raises(InvalidSignature):
        StripeVerifier(secret=secret, clock=clock).verify(
            BODY, {"Stripe-Signature": f"t={NOW},v1={decoded}"}
        )
    verifier = StripeVerifier(secret=secret, clock=clock)
    assert verifier.verify(BODY, sign_stripe(secret, BODY, NOW)) is None


@pytest.mark.parametrize("secret", ["whsec_abc", ["whsec_old", "whsec_new"]], ids=["one", "list"])
def test_repr_and_str_never_show_the_secret(provider, secret):
    secrets = [secret] if isinstance(secret, str) else secret
    secrets = [
        (s if provider.name != "standard" else "whsec_" + _b64(s.encode() * 4)) for s in secrets
    ]
    verifier = provider.make(secrets)
    for text in (repr(verifier), str(verifier), f"{verifier!r:>10}"):
        for s in secrets:
            assert s not in text
            assert s.removeprefix("whsec_") not in text
    assert type(verifier).__name__ in repr(verifier)


# --- several signatures in one header ----------------------------------------------------


def _stripe_v1(secret: str, ts: int = NOW) -> str:
    return sign_stripe(secret, BODY, ts)["Stripe-Signature"].partition(",v1=")[2]


@pytest.mark.parametrize(
    "header",
    [
        "t={t},v1={wrong},v1={right}",
        "t={t},v1={right},v1={wrong}",
        "t={t},v1={wrong},v1={wrong},v1={right}",
        "t={t},v0={wrong},v1={right}",
        "v1={right},t={t}",
        "t={t}, v1={right}",
    ],
)
def test_stripe_accepts_a_header_where_one_of_several_v1_values_matches(header):
    value = header.format(t=NOW, right=_stripe_v1("whsec_right"), wrong=_stripe_v1("whsec_wrong"))
    verifier = StripeVerifier(secret="whsec_right", clock=clock)
    assert verifier.verify(BODY, {"Stripe-Signature": value}) is None


def test_stripe_refuses_a_header_where_no_v1_value_matches():
    value = f"t={NOW},v1={_stripe_v1('whsec_a')},v1={_stripe_v1('whsec_b')},v0={_stripe_v1('x')}"
    with pytest.raises(InvalidSignature):
        StripeVerifier(secret="whsec_right", clock=clock).verify(BODY, {"Stripe-Signature": value})


def test_stripe_refuses_a_v1_signed_for_another_timestamp():
    value = f"t={NOW},v1={_stripe_v1('whsec_right', NOW - 1)}"
    with pytest.raises(InvalidSignature):
        StripeVerifier(secret="whsec_right", clock=clock).verify(BODY, {"Stripe-Signature": value})


def test_standard_webhooks_accepts_a_header_where_one_of_several_signatures_matches():
    right = sign_standard(STANDARD_SECRET, BODY, NOW)
    wrong = sign_standard(STANDARD_OTHER, BODY, NOW)["webhook-signature"]
    for value in (
        f"{wrong} {right['webhook-signature']}",
        f"{right['webhook-signature']} {wrong}",
        f"v1a,c29tZXRoaW5n {right['webhook-signature']}",
    ):
        headers = {**right, "webhook-signature": value}
        assert (
            StandardWebhooksVerifier(secret=STANDARD_SECRET, clock=clock).verify(BODY, headers)
            is None
        )


# --- Standard Webhooks: svix-* header names ----------------------------------------------


def test_standard_webhooks_accepts_svix_header_names(as_mapping):
    headers = {
        k.replace("webhook-", "svix-"): v
        for k, v in sign_standard(STANDARD_SECRET, BODY, NOW).items()
    }
    verifier = StandardWebhooksVerifier(secret=STANDARD_SECRET, clock=clock)
    assert verifier.verify(BODY, as_mapping(headers)) is None


def test_standard_webhooks_refuses_stale_svix_headers():
    headers = {
        k.replace("webhook-", "svix-"): v
        for k, v in sign_standard(STANDARD_SECRET, BODY, NOW - 301).items()
    }
    with pytest.raises(InvalidSignature):
        StandardWebhooksVerifier(secret=STANDARD_SECRET, clock=clock).verify(BODY, headers)


# --- the generic HMAC verifier's options -------------------------------------------------


def test_hmac_hex_accepts_upper_case_hex():
    headers = {"X-Signature": sign_hmac_hex("s3cret", BODY)["X-Signature"].upper()}
    assert HmacVerifier(secret="s3cret").verify(BODY, headers) is None


def test_hmac_algorithm_is_honoured():
    sha1 = _digest(b"s3cret", BODY, "sha1").hex()
    sha256 = _digest(b"s3cret", BODY).hex()
    verifier = HmacVerifier(secret="s3cret", algorithm="sha1", prefix="sha1=")
    assert verifier.verify(BODY, {"X-Signature": f"sha1={sha1}"}) is None
    with pytest.raises(InvalidSignature):
        verifier.verify(BODY, {"X-Signature": f"sha1={sha256}"})


def test_hmac_header_name_is_honoured():
    headers = sign_hmac_hex("s3cret", BODY)
    with pytest.raises(InvalidSignature):
        HmacVerifier(secret="s3cret", header="X-Other").verify(BODY, headers)


@pytest.mark.parametrize(
    "options", [{"algorithm": "sha257"}, {"algorithm": "nope"}, {"encoding": "base32"}]
)
def test_hmac_refuses_unknown_options_at_construction(options):
    with pytest.raises(ValueError):
        HmacVerifier(secret="s3cret", **options)


@pytest.mark.parametrize("algorithm", ["shake_128", "shake_256"])
def test_hmac_refuses_variable_length_digests_at_construction(algorithm):
    with pytest.raises(ValueError):
        HmacVerifier(secret="s3cret", algorithm=algorithm)


# --- event id and type: the provider rules -----------------------------------------------

PAYLOAD = {"id": "payload-id", "type": "payload.type"}


def test_standard_webhooks_event_id_and_type(as_mapping):
    verifier = StandardWebhooksVerifier(secret=STANDARD_SECRET)
    assert verifier.event_id(PAYLOAD, as_mapping({"webhook-id": "msg_1"})) == "msg_1"
    assert verifier.event_id(PAYLOAD, as_mapping({"svix-id": "msg_2"})) == "msg_2"
    both = as_mapping({"webhook-id": "msg_1", "svix-id": "msg_2"})
    assert verifier.event_id(PAYLOAD, both) == "msg_1"
    assert verifier.event_id(PAYLOAD, as_mapping({})) is None  # not the payload's id
    assert verifier.event_type(PAYLOAD, as_mapping({"webhook-id": "msg_1"})) == "payload.type"
    assert verifier.event_type({"data": {}}, as_mapping({})) == ""


def test_stripe_event_id_and_type_come_from_the_payload(as_mapping):
    verifier = StripeVerifier(secret="whsec_x")
    payload = {"id": "evt_1NQ", "type": "payment_intent.succeeded", "data": {"object": {}}}
    headers = as_mapping({"webhook-id": "not-this", "Stripe-Signature": "t=1,v1=00"})
    assert verifier.event_id(payload, headers) == "evt_1NQ"
    assert verifier.event_type(payload, headers) == "payment_intent.succeeded"
    assert verifier.event_id({"type": "x"}, headers) is None
    assert verifier.event_id({"id": ""}, headers) is None
    assert verifier.event_id(["evt_1"], headers) is None  # not an object: no id, no crash
    assert verifier.event_type(["x"], headers) == ""


def test_github_event_id_and_type(as_mapping):
    verifier = GitHubVerifier(secret=GITHUB_SECRET)
    headers = as_mapping({"X-GitHub-Delivery": "d-1", "X-GitHub-Event": "pull_request"})
    assert verifier.event_id({"id": "not-this"}, headers) == "d-1"
    assert verifier.event_type({"action": "opened"}, headers) == "pull_request.opened"
    assert verifier.event_type({"ref": "refs/heads/main"}, headers) == "pull_request"
    assert verifier.event_type(["not", "an", "object"], headers) == "pull_request"
    assert verifier.event_id({"id": "x"}, as_mapping({})) is None
    assert verifier.event_type({"action": "opened"}, as_mapping({})) == ""


def test_shopify_event_id_and_type(as_mapping):
    verifier = ShopifyVerifier(secret="s")
    headers = as_mapping({"X-Shopify-Webhook-Id": "w-1", "X-Shopify-Topic": "orders/paid"})
    assert verifier.event_id({"id": 820982911946154500}, headers) == "w-1"
    assert verifier.event_type({"type": "not-this"}, headers) == "orders/paid"
    assert verifier.event_id({}, as_mapping({"X-Shopify-Event-Id": "e-1"})) == "e-1"
    assert verifier.event_id({"id": 1}, as_mapping({})) is None
    assert verifier.event_type({}, as_mapping({})) == ""


def test_slack_event_id_and_type(as_mapping):
    verifier = SlackVerifier(secret="s")
    headers = as_mapping({"X-Slack-Request-Timestamp": "1"})
    payload = {"type": "event_callback", "event_id": "Ev08", "event": {"type": "app_mention"}}
    assert verifier.event_id(payload, headers) == "Ev08"
    assert verifier.event_type(payload, headers) == "app_mention"
    challenge = {"type": "url_verification", "challenge": "abc"}
    assert verifier.event_id(challenge, headers) is None
    assert verifier.event_type(challenge, headers) == "url_verification"
    assert verifier.event_type({"event": "not an object", "type": "t"}, headers) == "t"
    assert verifier.event_type(["x"], headers) == ""


def test_hmac_event_id_and_type_from_configured_headers(as_mapping):
    verifier = HmacVerifier(secret="s", id_header="X-Event-Id", type_header="X-Event-Type")
    headers = as_mapping({"X-Event-Id": "h-1", "X-Event-Type": "thing.happened"})
    assert verifier.event_id(PAYLOAD, headers) == "h-1"
    assert verifier.event_type(PAYLOAD, headers) == "thing.happened"
    assert verifier.event_type(PAYLOAD, as_mapping({})) == ""


def test_hmac_event_id_and_type_default_to_the_payload(as_mapping):
    verifier = HmacVerifier(secret="s")
    headers = as_mapping({"X-Event-Id": "h-1", "X-Event-Type": "thing.happened"})
    assert verifier.event_id(PAYLOAD, headers) == "payload-id"
    assert verifier.event_type(PAYLOAD, headers) == "payload.type"
    assert verifier.event_id({"id": 7}, headers) == "7"  # always a string
    assert verifier.event_id({}, headers) is None


# --- constant-time comparison ------------------------------------------------------------


@pytest.fixture
def compare_digest(monkeypatch):
    """Spy on ``hmac.compare_digest`` as the verifiers see it; ``answer`` can force a result."""

    class Spy:
        calls = 0
        answer: bool | None = None
        real = hmac.compare_digest

        def __call__(self, a, b):
            self.calls += 1
            result = self.real(a, b)
            return result if self.answer is None else self.answer

    spy = Spy()
    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module every verifier calls
    return spy


def test_signatures_are_compared_with_compare_digest(provider, compare_digest):
    headers = provider.sign(provider.secret, BODY, NOW)
    assert provider.make(provider.secret).verify(BODY, headers) is None
    assert compare_digest.calls >= 1


def test_compare_digest_alone_decides_a_match(provider, compare_digest):
    valid = provider.sign(provider.secret, BODY, NOW)
    wrong = provider.sign(provider.other_secret, BODY, NOW)
    compare_digest.answer = False
    with pytest.raises(InvalidSignature):
        provider.make(provider.secret).verify(BODY, valid)
    compare_digest.answer = True
    assert provider.make(provider.secret).verify(BODY, wrong) is None


@pytest.mark.parametrize(
    "provider_name", [p.name for p in PROVIDERS if p.name != "standard"], ids=str
)
def test_every_secret_is_compared_even_when_the_first_matches(provider_name, compare_digest):
    # Timing must not reveal which secret matched: no early exit.
    provider = BY_NAME[provider_name]
    verifier = provider.make([provider.secret, provider.other_secret, "third-secret"])
    assert verifier.verify(BODY, provider.sign(provider.secret, BODY, NOW)) is None
    assert compare_digest.calls == 3


def test_every_stripe_v1_value_is_compared_with_every_secret(compare_digest):
    value = f"t={NOW},v1={_stripe_v1('whsec_a')},v1={_stripe_v1('whsec_b')}"
    verifier = StripeVerifier(secret=["whsec_a", "whsec_b", "whsec_c"], clock=clock)
    assert verifier.verify(BODY, {"Stripe-Signature": value}) is None
    assert compare_digest.calls == 6


# --- hostile timestamps, Shopify's header names, the type bound to the body ----------------


@pytest.mark.parametrize(
    "value", ["9" * 400, "-" + "9" * 400, "1" * 20, "\u0661\u0667" + "\u0660" * 8]
)
def test_an_absurd_timestamp_is_refused_not_an_overflow(timestamped, value):
    # Finding 7: int("9" * 400) less time.time(), a float, raised OverflowError.
    headers = timestamped.sign(timestamped.secret, BODY, value)
    verifier = timestamped.make(timestamped.secret)
    verifier.clock = lambda: NOW + 0.5
    with pytest.raises(InvalidSignature):
        verifier.verify(BODY, headers)


def test_standard_webhooks_signing_verify_refuses_an_absurd_timestamp():
    from webhooks_app import signing

    with pytest.raises(InvalidSignature):
        signing.verify(STANDARD_SECRET, "msg_1", "9" * 400, BODY, "v1,x", now=NOW + 0.5)


def _shopify_headers(prefix: str, body: bytes = BODY, secret: str = "shopify-secret") -> dict:
    return {
        f"{prefix}Hmac-Sha256": _b64(_digest(secret.encode(), body)),
        f"{prefix}Topic": "orders/paid",
        f"{prefix}Webhook-Id": "w-1",
        f"{prefix}Event-Id": "e-1",
    }


@pytest.mark.parametrize("prefix", ["X-Shopify-", "shopify-", "Shopify-"])
def test_shopify_accepts_both_header_forms(prefix, as_mapping):
    # Finding 12: Shopify's newer names drop the X- prefix.
    verifier = ShopifyVerifier(secret="shopify-secret")
    headers = as_mapping(_shopify_headers(prefix))
    assert verifier.verify(BODY, headers) is None
    assert verifier.event_type({}, headers) == "orders/paid"


@pytest.mark.parametrize("prefix", ["X-Shopify-", "shopify-"])
def test_shopify_event_id_prefers_the_documented_duplicate_marker(prefix, as_mapping):
    # Finding 12: a re-sent event keeps X-Shopify-Event-Id and gets a new Webhook-Id.
    verifier = ShopifyVerifier(secret="s")
    both = _shopify_headers(prefix)
    assert verifier.event_id({}, as_mapping(both)) == "e-1"
    only_webhook_id = {k: v for k, v in both.items() if not k.endswith("Event-Id")}
    assert verifier.event_id({}, as_mapping(only_webhook_id)) == "w-1"


def test_shopify_new_names_still_refuse_a_wrong_signature():
    headers = _shopify_headers("shopify-", secret="another")
    with pytest.raises(InvalidSignature):
        ShopifyVerifier(secret="shopify-secret").verify(BODY, headers)


def test_hmac_type_field_takes_the_type_from_the_signed_body(as_mapping):
    # Finding 13: with type_field the unsigned header cannot choose the handler.
    verifier = HmacVerifier(secret="s", type_field="event.name")
    payload = {"event": {"name": "ping"}}
    assert verifier.event_type(payload, as_mapping({"X-Event-Type": "release"})) == "ping"
    assert verifier.event_type({"event": "flat"}, as_mapping({})) == ""


def test_hmac_type_field_refuses_a_type_header_that_disagrees(as_mapping):
    verifier = HmacVerifier(secret="s", type_header="X-Event-Type", type_field="type")
    agreeing = as_mapping({"X-Event-Type": "ping"})
    assert verifier.event_type({"type": "ping"}, agreeing) == "ping"
    with pytest.raises(InvalidSignature):
        verifier.event_type({"type": "ping"}, as_mapping({"X-Event-Type": "release"}))
    # The header alone cannot supply a type the body does not sign.
    with pytest.raises(InvalidSignature):
        verifier.event_type({}, as_mapping({"X-Event-Type": "release"}))


def test_slack_form_payloads_have_ids_and_types():
    verifier = SlackVerifier(secret="s")
    command = {"command": "/weather", "text": "94070", "trigger_id": "13345224609.738"}
    assert verifier.event_type(command, {}) == "slash_command"
    assert verifier.event_id(command, {}) == "13345224609.738"
    action = {"type": "block_actions", "trigger_id": "t-2", "actions": [{"action_id": "a"}]}
    assert verifier.event_type(action, {}) == "block_actions"
    assert verifier.event_id(action, {}) == "t-2"
