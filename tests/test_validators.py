"""Endpoint model validation: what the admin, the API and the commands refuse.

``Endpoint.full_clean()`` decides whether an endpoint's settings can be used for
deliveries: every bad value raises ``ValidationError`` keyed by its own field,
good values pass, and validation never resolves a host name.
"""

from __future__ import annotations

import base64
import ipaddress
import socket

import pytest
from django.core.exceptions import ValidationError

from webhooks_app import signing
from webhooks_app.models import Endpoint

VALID_URL = "https://hooks.example.com/x"
RESERVED_HEADERS = [
    "Host",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Content-Type",
    "User-Agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
]


def whsec(size: int) -> str:
    """A ``whsec_`` secret holding ``size`` bytes."""
    return "whsec_" + base64.b64encode(bytes(range(size))).decode()


def _is_loopback(host) -> bool:
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_lookups(monkeypatch):
    """Fail the test itself, not only the session, if validation resolves a host name."""
    lookups: list[tuple[str, object]] = []

    def refusing(name: str):
        real = getattr(socket, name)

        def lookup(host, *args, **kwargs):
            if _is_loopback(host):
                return real(host, *args, **kwargs)
            lookups.append((name, host))
            raise socket.gaierror(socket.EAI_NONAME, "endpoint validation must not resolve names")

        return lookup

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        monkeypatch.setattr(socket, name, refusing(name))
    yield
    assert lookups == [], f"validation resolved host names: {lookups}"


def endpoint(**fields) -> Endpoint:
    """An otherwise valid, unsaved endpoint."""
    return Endpoint(**{"url": VALID_URL, **fields})


def assert_refused(field: str, **fields) -> None:
    """full_clean() raises ValidationError for ``field``, and for no other field."""
    with pytest.raises(ValidationError) as info:
        endpoint(**fields).full_clean()
    assert set(info.value.error_dict) == {field}, info.value.message_dict


# --- valid endpoints -----------------------------------------------------------------------------


def test_a_valid_endpoint_passes():
    """The documented example validates: extra headers, a pattern, a rate limit."""
    endpoint(
        headers={"X-Tenant": "acme", "Authorization": "Bearer abc"},
        event_types=["order.*"],
        rate_limit=10,
    ).full_clean()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Tenant": "acme"},
        {"Authorization": "Bearer abc"},
        {"X-Custom_Header.v2": "1"},
        {"X-Note": "café"},  # latin-1 is sendable
    ],
    ids=["empty", "tenant", "authorization", "token-characters", "latin-1"],
)
def test_sendable_headers_pass(headers):
    """Header names that are HTTP tokens with latin-1 string values are accepted."""
    endpoint(headers=headers).full_clean()


# --- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [[1], "x"], ids=["list", "string"])
def test_headers_must_be_a_json_object(headers):
    """Extra headers are a name -> value object, nothing else."""
    assert_refused("headers", headers=headers)


@pytest.mark.parametrize(
    "name", ["host\n", "Host\r\n", "X Bad", "", "Bad:Name", "X-T\u00e9st", "X-Tenant\x00"]
)
def test_header_names_must_be_http_tokens(name):
    """A name with whitespace, a colon or nothing at all is not an HTTP token."""
    assert_refused("headers", headers={name: "1"})


@pytest.mark.parametrize("value", [5, None, ["a"]], ids=["int", "null", "list"])
def test_header_values_must_be_strings(value):
    """A header value is a string, never a number, null or a list."""
    assert_refused("headers", headers={"X-Tenant": value})


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"], ids=["crlf", "lf", "cr"])
def test_header_values_cannot_hold_cr_or_lf(value):
    """CR or LF in a value would inject headers: refused."""
    assert_refused("headers", headers={"X-Tenant": value})


@pytest.mark.parametrize(
    "value",
    ["a\x00b", "a\x01b", "a\x0bb", "a\x1b[31m", "a\x7fb", "a\n"],
    ids=["nul", "soh", "vt", "escape", "del", "trailing-lf"],
)
def test_header_values_cannot_hold_control_characters(value):
    """RFC 9110 field values are visible characters, spaces and tabs: servers refuse the rest."""
    assert_refused("headers", headers={"X-Tenant": value})


def test_a_tab_inside_a_header_value_is_sendable():
    endpoint(headers={"X-Tenant": "a\tb"}).full_clean()


def test_header_values_must_be_latin1():
    """HTTP/1.1 sends header values as latin-1: anything else cannot be sent."""
    assert_refused("headers", headers={"X-Note": "café ☕"})


@pytest.mark.parametrize(
    "name",
    # As listed, lower, upper and title case (each spelling once).
    list(
        dict.fromkeys(
            v for name in RESERVED_HEADERS for v in (name, name.lower(), name.upper(), name.title())
        )
    ),
)
def test_reserved_header_names_are_refused_in_any_case(name):
    """Headers that the request itself sets (framing, signature, identity) cannot be set."""
    assert_refused("headers", headers={name: "x"})


# --- secret --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    ["not-a-secret", "whsec_!!!!", "whsec_", whsec(8), whsec(23)],
    ids=["no-prefix", "not-base64", "empty", "8-bytes", "23-bytes"],
)
def test_secret_must_be_whsec_and_base64_of_at_least_24_bytes(secret):
    """A secret that is not ``whsec_`` + base64 of 24 bytes or more is refused."""
    assert_refused("secret", secret=secret)


@pytest.mark.parametrize(
    "secret",
    ["", whsec(24), whsec(32), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    ids=["blank", "24-bytes", "32-bytes", "standard-webhooks-vector"],
)
def test_valid_secrets_pass(secret):
    """Blank (generated on save) and ``whsec_`` secrets of 24 bytes or more pass."""
    endpoint(secret=secret).full_clean()


def test_a_freshly_generated_secret_validates():
    """What ``signing.generate_secret()`` makes passes validation."""
    endpoint(secret=signing.generate_secret()).full_clean()


@pytest.mark.django_db
def test_a_created_endpoint_validates_with_its_generated_secret():
    """``Endpoint.objects.create(url=...)`` alone makes an endpoint that validates."""
    created = Endpoint.objects.create(url=VALID_URL)
    assert created.secret.startswith("whsec_")
    created.full_clean()


# --- event types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_types", [[1], 5, "order.paid", [""]], ids=["int-item", "int", "bare-string", "empty"]
)
def test_event_types_must_be_a_list_of_strings(event_types):
    """The filter is a list of non-empty patterns; a bare string is not a list."""
    assert_refused("event_types", event_types=event_types)


@pytest.mark.parametrize(
    "event_types",
    [[], ["order.*"], ["order.paid", "user.*"], ["*"]],
    ids=["all", "pattern", "several", "star"],
)
def test_valid_event_types_pass(event_types):
    """An empty list (every type), names and patterns pass."""
    endpoint(event_types=event_types).full_clean()


# --- url -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://x.example/", "https:///x", "http://"])
def test_url_must_be_http_or_https_with_a_host(url):
    """Deliveries are HTTP POSTs: another scheme, or no host, is refused."""
    assert_refused("url", url=url)


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x", "http://hooks.example.com:8080/in?tenant=acme"]
)
def test_valid_urls_pass_without_a_lookup(url):
    """http(s) URLs with a host pass, and their host is never resolved."""
    endpoint(url=url).full_clean()


# --- rate limit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rate_limit", [0, -1])
def test_rate_limit_must_be_positive(rate_limit):
    """Requests per second: zero or less makes no sense (None means unlimited)."""
    assert_refused("rate_limit", rate_limit=rate_limit)


@pytest.mark.parametrize("rate_limit", [None, 5])
def test_rate_limit_may_be_unlimited_or_positive(rate_limit):
    """None (unlimited) and a positive number of requests per second pass."""
    endpoint(rate_limit=rate_limit).full_clean()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.1/",
        "http://192.168.1.5:8080/hook",
        "http://[::ffff:10.0.0.1]/",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
    ],
)
def test_private_and_metadata_address_literals_are_refused(url):
    """What the API refuses, the model refuses too (and with it the admin): no lookup needed."""
    assert_refused("url", url=url)


def test_allowed_networks_exempt_address_literals(settings):
    """``WEBHOOKS["ALLOWED_NETWORKS"]`` is the one way to allow a private target."""
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_NETWORKS": ["10.0.0.0/8"]}
    endpoint(url="http://10.0.0.1/").full_clean()
    assert_refused("url", url="http://127.0.0.1/")
