"""Standard Webhooks v1 signing: the published vector, interop and every refusal."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks_app import signing
from webhooks_app.signing import InvalidSignature

# The vector published by Standard Webhooks (and quoted in DESIGN.md).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OTHER_SECRET = "whsec_" + base64.b64encode(b"another secret of 24 byte").decode()


def verify(secret=SECRET, msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, signature=SIGNATURE, **kw):
    kw.setdefault("now", TIMESTAMP)
    return signing.verify(secret, msg_id, timestamp, body, signature, **kw)


# --- the published vector ----------------------------------------------------------------


def test_sign_matches_the_standard_webhooks_vector():
    assert signing.sign(SECRET, MSG_ID, TIMESTAMP, BODY) == SIGNATURE


def test_verify_accepts_the_standard_webhooks_vector():
    assert verify() is None


def test_verify_accepts_the_timestamp_as_a_header_string():
    assert verify(timestamp=str(TIMESTAMP)) is None


def test_signature_header_has_one_signature_per_secret_in_order():
    header = signing.signature_header([SECRET, OTHER_SECRET], MSG_ID, TIMESTAMP, BODY)
    first, second = header.split(" ")
    assert first == SIGNATURE
    assert second == signing.sign(OTHER_SECRET, MSG_ID, TIMESTAMP, BODY)
    assert second != first


def test_headers_are_the_three_standard_webhooks_headers():
    assert signing.headers([SECRET], MSG_ID, BODY, timestamp=TIMESTAMP) == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": SIGNATURE,
    }


def test_headers_default_to_the_current_time(monkeypatch):
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: TIMESTAMP + 0.75))
    assert signing.headers([SECRET], MSG_ID, BODY)["webhook-timestamp"] == str(TIMESTAMP)


# --- secrets -----------------------------------------------------------------------------


def test_generate_secret_is_whsec_and_base64_of_32_random_bytes():
    secret = signing.generate_secret()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]+={0,2}", secret)
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert signing.secret_key(secret) == base64.b64decode(secret.removeprefix("whsec_"))


def test_generate_secret_is_random():
    assert len({signing.generate_secret() for _ in range(200)}) == 200


@pytest.mark.parametrize("length", [31, 32, 33])  # unpadded: 2, 3 and 0 characters past 4n
def test_an_unpadded_secret_keys_the_hmac_as_the_padded_one(length):
    padded = "whsec_" + base64.b64encode(bytes(range(length))).decode()
    assert signing.secret_key(padded.rstrip("=")) == bytes(range(length))


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_!!!not base64!!!",
        "whsec_abcde",  # a length no base64 text can have, padded or not
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=x",  # data after the padding
        "whsec_MfKQ9r8GKYqrTwjU*PD8ILPZIo2LaLaSw",  # outside the alphabet, not skipped
        "whsec_",  # nothing to key the HMAC with
    ],
)
def test_malformed_secret_raises_value_error(secret):
    # (Unpadded secrets are fine, as in the reference libraries: see test_verifiers.)
    with pytest.raises(ValueError):
        signing.sign(secret, MSG_ID, TIMESTAMP, BODY)


@pytest.mark.parametrize("version", ["v0", "v1a", "V1", ""])
def test_a_valid_signature_under_another_version_label_is_refused(version):
    value = SIGNATURE.partition(",")[2]
    with pytest.raises(InvalidSignature):
        verify(signature=f"{version},{value}")


def test_verify_with_a_malformed_secret_raises_value_error_not_invalid_signature():
    with pytest.raises(ValueError) as info:
        verify(secret="whsec_!!!")
    assert not isinstance(info.value, InvalidSignature)


# --- interop with the standardwebhooks reference library ---------------------------------


def test_our_headers_verify_with_the_reference_library():
    secret = signing.generate_secret()
    body = b'{"type": "order.paid", "timestamp": "2024-01-01T00:00:00Z", "data": {"id": 1}}'
    headers = signing.headers([secret], "msg_2abc", body)
    assert Webhook(secret).verify(body, headers) == {
        "type": "order.paid",
        "timestamp": "2024-01-01T00:00:00Z",
        "data": {"id": 1},
    }


def test_our_headers_with_two_secrets_verify_with_the_reference_library_for_each():
    new, old = signing.generate_secret(), signing.generate_secret()
    headers = signing.headers([new, old], "msg_rot", BODY)
    assert Webhook(new).verify(BODY, headers) == {"test": 2432232314}
    assert Webhook(old).verify(BODY, headers) == {"test": 2432232314}
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate_secret()).verify(BODY, headers)


def test_the_reference_library_rejects_our_signature_over_a_different_body():
    secret = signing.generate_secret()
    headers = signing.headers([secret], "msg_x", BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"test": 2432232315}', headers)


def test_signatures_made_by_the_reference_library_verify_with_ours():
    secret = signing.generate_secret()
    body = '{"hello": "world", "n": 1}'
    signed_at = datetime.fromtimestamp(TIMESTAMP + 42, tz=UTC)
    signature = Webhook(secret).sign("msg_ref", signed_at, body)
    assert (
        signing.verify(secret, "msg_ref", TIMESTAMP + 42, body.encode(), signature, now=TIMESTAMP)
        is None
    )
    with pytest.raises(InvalidSignature):
        signing.verify(secret, "msg_ref", TIMESTAMP + 42, b"{}", signature, now=TIMESTAMP)


def test_reference_library_signature_of_the_vector_equals_ours():
    signed_at = datetime.fromtimestamp(TIMESTAMP, tz=UTC)
    assert Webhook(SECRET).sign(MSG_ID, signed_at, BODY.decode()) == SIGNATURE


# --- rotation and several signatures -------------------------------------------------------


def test_verify_with_a_list_of_secrets_accepts_any_matching_one():
    assert verify(secret=[OTHER_SECRET, SECRET]) is None
    assert verify(secret=(s for s in [SECRET, OTHER_SECRET])) is None


def test_verify_with_a_list_of_secrets_none_matching_is_refused():
    with pytest.raises(InvalidSignature):
        verify(secret=[OTHER_SECRET, signing.generate_secret()])


def test_verify_with_an_empty_list_of_secrets_is_refused():
    with pytest.raises(InvalidSignature):
        verify(secret=[])


@pytest.mark.parametrize("position", ["first", "second"])
def test_verify_header_with_two_signatures_accepts_either(position):
    other = signing.sign(OTHER_SECRET, MSG_ID, TIMESTAMP, BODY)
    parts = [SIGNATURE, other] if position == "first" else [other, SIGNATURE]
    assert verify(signature=" ".join(parts)) is None
    # The other secret alone matches too, through its own signature.
    assert verify(secret=OTHER_SECRET, signature=" ".join(parts)) is None


def test_verify_ignores_unknown_signature_versions_next_to_v1():
    assert verify(signature=f"v1a,abcdef {SIGNATURE} v2,xyz") is None


# --- refusals --------------------------------------------------------------------------------


def test_wrong_secret_is_refused():
    with pytest.raises(InvalidSignature):
        verify(secret=OTHER_SECRET)


@pytest.mark.parametrize(
    "body",
    [b'{"test": 2432232315}', b'{"test": 2432232314} ', b"", BODY.upper()],
)
def test_tampered_body_is_refused(body):
    with pytest.raises(InvalidSignature):
        verify(body=body)


def test_tampered_message_id_is_refused():
    with pytest.raises(InvalidSignature):
        verify(msg_id="msg_p5jXN8AQM9LWM0D4loKWxJel")


def test_signature_for_another_timestamp_is_refused():
    # Timestamp within tolerance, but not the one that was signed.
    with pytest.raises(InvalidSignature):
        verify(timestamp=TIMESTAMP + 1)


def test_tampered_signature_is_refused():
    tampered = SIGNATURE[:-2] + ("A=" if SIGNATURE[-2] != "A" else "B=")
    with pytest.raises(InvalidSignature):
        verify(signature=tampered)


@pytest.mark.parametrize("offset", [301, -301, 10_000, -10_000])
def test_stale_timestamp_is_refused_in_both_directions(offset):
    # The signature itself is valid for TIMESTAMP; only the clock is off.
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify(now=TIMESTAMP + offset)


@pytest.mark.parametrize("offset", [0, 299, -299, 300, -300])
def test_timestamp_within_tolerance_is_accepted_in_both_directions(offset):
    assert verify(now=TIMESTAMP + offset) is None


def test_tolerance_is_configurable():
    assert verify(now=TIMESTAMP + 1000, tolerance=1000) is None
    with pytest.raises(InvalidSignature):
        verify(now=TIMESTAMP + 11, tolerance=10)


def test_default_now_is_the_current_time():
    # Without ``now`` the vector (from 2021) is far outside the tolerance.
    with pytest.raises(InvalidSignature):
        signing.verify(SECRET, MSG_ID, TIMESTAMP, BODY, SIGNATURE)


@pytest.mark.parametrize("timestamp", ["", "abc", "1614265330.0", "1.6e9", "0x603834F2", None])
def test_non_integer_timestamp_is_refused(timestamp):
    with pytest.raises(InvalidSignature):
        verify(timestamp=timestamp)


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "   ",
        "v1,",
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",  # no version prefix
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ],
)
def test_header_without_a_v1_signature_is_refused(signature):
    with pytest.raises(InvalidSignature):
        verify(signature=signature)


def test_non_ascii_signature_is_refused_not_crashing():
    with pytest.raises(InvalidSignature):
        verify(signature="v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OÉ=")
