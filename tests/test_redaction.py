"""Masks for credentials: pure functions, no Django."""

from __future__ import annotations

import pytest

from webhooks_app.redaction import (
    MASK,
    kept_headers,
    mask_headers,
    mask_text,
    mask_url,
    masked_names,
    same_origin,
    unmask_headers,
    unmask_url,
)

M = MASK


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://hooks.example.com/in", "https://hooks.example.com/in"),
        ("https://u:p@hooks.example.com/in", f"https://u:{M}@hooks.example.com/in"),
        ("https://u:@hooks.example.com/", f"https://u:{M}@hooks.example.com/"),
        ("https://u@hooks.example.com/", "https://u@hooks.example.com/"),
        ("https://u:p@[::1]:8443/x", f"https://u:{M}@[::1]:8443/x"),
        ("https://u:p:q@h.example/", f"https://u:{M}@h.example/"),
        ("https://h.example/in?token=abc&x=&y", f"https://h.example/in?token={M}&x=&y"),
        ("https://h.example/in?a=1#frag", f"https://h.example/in?a={M}#frag"),
        ("https://u:p%40x@h.example/?k=v", f"https://u:{M}@h.example/?k={M}"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_mask_url_of_an_unparsable_url_still_masks():
    assert "secret" not in mask_url("http://[::1/?token=secret")


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        (
            "HTTPConnectionPool(host='h', port=80): Max retries exceeded with url: "
            "/hook?token=abc123&sig=def456 (Caused by ...)",
            ("abc123", "def456"),
        ),
        ("Redirected to https://u:hunter2@h.example/x", ("hunter2",)),
        ("Location: 'https://h.example/cb?code=xyz789'", ("xyz789",)),
    ],
)
def test_mask_text(text, hidden):
    masked = mask_text(text)
    for secret in hidden:
        assert secret not in masked
    assert M in masked


def test_mask_text_keeps_plain_messages():
    assert mask_text("HTTP 503 from the receiver") == "HTTP 503 from the receiver"
    assert mask_text("") == ""


def test_headers_are_masked_and_unmasked_by_name():
    stored = {"Authorization": "Bearer a", "X-Tenant": "acme"}
    assert mask_headers(stored) == {"Authorization": M, "X-Tenant": M}
    submitted = {"Authorization": M, "X-Tenant": "globex", "X-New": M}
    assert unmask_headers(submitted, stored) == {
        "Authorization": "Bearer a",
        "X-Tenant": "globex",
        "X-New": M,  # stands for nothing stored: validation refuses it
    }
    assert unmask_headers("not a dict", stored) == "not a dict"


def test_unmask_url():
    stored = "https://u:p@h.example/in?t=1"
    assert unmask_url(mask_url(stored), stored) == stored
    assert unmask_url("https://other.example/", stored) == "https://other.example/"
    assert unmask_url(stored, stored) == stored


def test_kept_headers_compare_names_without_case():
    headers = {"Webhook-Id": "1", "X-Auth-Key": "k", "content-type": "application/json"}
    assert kept_headers(headers, ["webhook-id", "Content-Type"]) == {
        "Webhook-Id": "1",
        "content-type": "application/json",
    }


@pytest.mark.parametrize(
    ("url", "other", "same"),
    [
        ("https://a.example/x", "HTTPS://A.example:443/y?q=1", True),
        ("http://a.example/", "http://user:pw@a.example:80/", True),
        ("https://a.example/", "http://a.example/", False),
        ("https://a.example/", "https://b.example/", False),
        ("https://a.example/", "https://a.example:8443/", False),
        ("https://a.example/", "https://a.example:bad/", False),
        ("https://a.example/", "", False),
        ("", "", False),
    ],
)
def test_same_origin(url, other, same):
    assert same_origin(url, other) is same


def test_masked_names_are_the_masks_standing_for_stored_values():
    stored = {"Authorization": "Bearer x", "X-Tenant": "acme"}
    submitted = {"Authorization": MASK, "X-Tenant": "globex", "X-New": MASK}
    assert masked_names(submitted, stored) == ["Authorization"]
    assert masked_names("not a dict", stored) == []
