"""Where a webhook URL points, and whether deliveries may go there.

Pure functions: no test here resolves a name or opens a socket. URLs are
checked against the sender's own connection pools (``connection_from_url``
only picks a pool, it connects nowhere), and names are "resolved" by a fake
that answers a public address for every name and records what it was asked.
"""

from __future__ import annotations

import ipaddress
import itertools
import socket
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ValidationError

from webhooks_app import transport
from webhooks_app.transport import addresses
from webhooks_app.transport.addresses import (
    BlockedAddress,
    UnsafeURL,
    embedded_ipv4,
    is_allowed_address,
    is_public_address,
    parse_networks,
    parse_target,
    resolve_allowed,
)
from webhooks_app.validators import check_endpoint_url

PUBLIC_IP = "93.184.215.14"  # only ever classified, never contacted


def recording_resolver(calls: list, answer: str = PUBLIC_IP):
    """A fake getaddrinfo: every name resolves to ``answer``; each question is recorded."""

    def resolve(host, port, *args, **kwargs):
        calls.append((host, port))
        family = socket.AF_INET6 if ":" in answer else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (answer, port))]

    return resolve


def sender_target(url: str) -> tuple[str, int]:
    """The host and port the sender's connection pool for ``url`` connects to."""
    pool = transport.get_pool_manager(["127.0.0.0/8"]).connection_from_url(url)
    return pool.host, pool.port


# --- one parser: what is accepted, where it points ---------------------------------------------

ACCEPTED = [
    ("https://hooks.example.com/in", "hooks.example.com", 443),
    ("http://hooks.example.com:8080/in?tenant=acme", "hooks.example.com", 8080),
    ("HTTPS://HOOKS.Example.COM:0443/", "hooks.example.com", 443),
    ("http://hooks.example.com:/", "hooks.example.com", 80),
    ("http://hooks.example.com./", "hooks.example.com.", 80),  # a fully qualified name
    ("https://user:p%40ss@hooks.example.com/", "hooks.example.com", 443),
    ("http://hooks.example.com%2f@127.0.0.1/", "127.0.0.1", 80),  # %2f is userinfo
    ("http://127.0.0.1#@hooks.example.com/", "127.0.0.1", 80),
    ("http://127.0.0.1?@hooks.example.com/", "127.0.0.1", 80),
    ("http://[::ffff:127.0.0.1]:8080/", "::ffff:127.0.0.1", 8080),
    ("http://[2606:4700::1111]/", "2606:4700::1111", 80),
    ("https://xn--bcher-kva.example/", "xn--bcher-kva.example", 443),
    ("http://hooks.example.com/caf\u00e9", "hooks.example.com", 80),  # non-ASCII path only
]

REFUSED = [
    # urllib3 stops the authority at a backslash, urlsplit (and others) do not.
    ("http://127.0.0.1:80\\@hooks.example.com/", "ambiguous_url"),
    ("http://hooks.example.com\\@127.0.0.1/", "ambiguous_url"),
    ("http:\\\\127.0.0.1/", "ambiguous_url"),
    ("http://127.0.0.1/a\\b", "ambiguous_url"),  # read as a slash by browsers' parser
    # Tabs and newlines are dropped by some parsers and refused by others.
    ("http://127.0.0.1\t.hooks.example.com/", "ambiguous_url"),
    ("http://hooks.exa\nmple.com/", "ambiguous_url"),
    ("http://hooks.example.com/\r\nX-Injected: 1", "ambiguous_url"),
    (" http://127.0.0.1/", "ambiguous_url"),
    ("http://127.0.0.1 /", "ambiguous_url"),
    ("http://hooks.example.com\x00.evil/", "ambiguous_url"),
    # A raw "@" inside the userinfo: which "@" ends it depends on the parser.
    ("http://a@b@127.0.0.1/", "ambiguous_url"),
    ("http://user@127.0.0.1:80@hooks.example.com/", "ambiguous_url"),
    # Percent-encoded hosts: urllib3 decodes them, urlsplit and getaddrinfo do not.
    ("http://%31%32%37.0.0.1/", "ambiguous_url"),
    ("http://hooks%2eexample.com/", "ambiguous_url"),
    # IPv6 zone ids: "%25" or a bare "%", parsers differ.
    ("http://[fe80::1%25eth0]/", "ambiguous_url"),
    ("http://[fe80::1%eth0]/", "ambiguous_url"),
    ("http://[::ffff:127.0.0.01]/", "ambiguous_url"),  # parse_url: fine; ipaddress: no
    # Non-ASCII hosts: IDNA mappings differ (full-width digits are 127.0.0.1 to some).
    ("http://\uff45xample.com/", "ambiguous_url"),
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "ambiguous_url"),
    ("http://hooks.example.com\u3002evil/", "ambiguous_url"),
    # Numbers that are not dotted quads: getaddrinfo reads them as IPv4, ipaddress does not.
    ("http://2130706433/", "numeric_host"),
    ("http://0x7f.1/", "numeric_host"),
    ("http://0x7f000001/", "numeric_host"),
    ("http://0177.0.0.1/", "numeric_host"),
    ("http://127.1/", "numeric_host"),
    ("http://127.0.0.1./", "numeric_host"),
    ("http://1.2.3.4.5/", "numeric_host"),
    ("http://0/", "numeric_host"),
    ("http://hooks.0x10/", "numeric_host"),
    # Not URLs that a POST can go to.
    ("http://[127.0.0.1]/", "invalid_url"),
    ("http://hooks.example.com:99999/", "invalid_port"),
    ("http://hooks.example.com:80:90/", "invalid_port"),
    ("http://hooks.example.com:8080x/", "invalid_port"),
    ("http://hooks.example.com:0/", "invalid_port"),
    ("http:/hooks.example.com/", "invalid_host"),
    ("https:///x", "invalid_host"),
    ("http://", "invalid_host"),
    ("ftp://hooks.example.com/", "invalid_scheme"),
    ("file:///etc/passwd", "invalid_scheme"),
    ("hooks.example.com/in", "invalid_scheme"),
]


@pytest.mark.parametrize(("url", "host", "port"), ACCEPTED)
def test_accepted_urls_point_where_the_sender_connects(url, host, port):
    target = parse_target(url)
    assert (target.host, target.port) == (host, port)
    assert sender_target(url) == (host, port)


@pytest.mark.parametrize(("url", "code"), REFUSED)
def test_urls_that_parsers_could_read_differently_are_refused(url, code):
    with pytest.raises(UnsafeURL) as info:
        parse_target(url)
    assert info.value.code == code


def test_a_refusal_never_quotes_the_url():
    with pytest.raises(UnsafeURL) as info:
        parse_target("http://user:s3cr3t@[127.0.0.1]/")
    assert "s3cr3t" not in str(info.value)


def test_a_literal_address_is_parsed_once():
    assert parse_target("http://10.0.0.1/").address == ipaddress.ip_address("10.0.0.1")
    assert parse_target("http://[::1]:80/").address == ipaddress.ip_address("::1")
    assert parse_target("http://hooks.example.com/").address is None


@pytest.mark.parametrize(
    ("url", "host", "port"), [*ACCEPTED, ("http://[fd00::1]:81/", "fd00::1", 81)]
)
def test_the_api_check_classifies_the_host_the_sender_connects_to(url, host, port):
    """check_endpoint_url resolves exactly the name and port the sender will connect to."""
    calls: list = []
    try:
        check_endpoint_url(url, allowed_networks=[], resolver=recording_resolver(calls))
    except ValidationError as exc:
        # Refused: only because the literal address the sender would reach is not allowed.
        assert exc.code == "blocked_address"
        assert not is_allowed_address(parse_target(url).address)
    else:
        literal = parse_target(url).address
        assert calls == ([] if literal is not None else [sender_target(url)])
    assert sender_target(url) == (host, port)


@pytest.mark.parametrize(("url", "code"), REFUSED)
def test_the_api_check_refuses_what_the_parser_refuses(url, code):
    calls: list = []
    with pytest.raises(ValidationError) as info:
        check_endpoint_url(url, allowed_networks=["0.0.0.0/0"], resolver=recording_resolver(calls))
    assert info.value.code == code
    assert calls == []


def test_the_reported_url_is_refused_by_the_api_check():
    """The review's example: the old check resolved hooks.example.com, the sender 127.0.0.1."""
    with pytest.raises(ValidationError):
        check_endpoint_url(
            "http://127.0.0.1:80\\@hooks.example.com/",
            allowed_networks=[],
            resolver=recording_resolver([]),
        )
    assert sender_target("http://127.0.0.1:80\\@hooks.example.com/") == ("127.0.0.1", 80)


def _generated_urls():
    """Every combination of a few tricky pieces: a small, deterministic fuzz."""
    schemes = ["http://", "HTTPS://"]
    userinfo = ["", "u:p@", "a@b@", "u%40x@", "x\\@", "h.example.com#@"]
    hosts = [
        "hooks.example.com",
        "HOOKS.Example.com.",
        "127.0.0.1",
        "[::1]",
        "[::ffff:7f00:1]",
        "2130706433",
        "0x7f.1",
        "%31%32%37.0.0.1",
        "[fe80::1%25eth0]",
        "\uff45xample.com",
        "h\t.example.com",
        "xn--bcher-kva.example",
    ]
    ports = ["", ":", ":8080", ":0443", ":99999", ":80:90", ":81\\@127.0.0.1"]
    tails = ["", "/", "/p?q=1", "\\@127.0.0.1/", "#@127.0.0.1", "?@10.0.0.1", "/a b"]
    for parts in itertools.product(schemes, userinfo, hosts, ports, tails):
        yield "".join(parts)


def test_no_generated_url_is_accepted_with_two_readings():
    """Whatever parse_target accepts, the sender and urlsplit read the same host and port."""
    accepted = refused = 0
    for url in _generated_urls():
        try:
            target = parse_target(url)
        except UnsafeURL:
            refused += 1
            continue
        accepted += 1
        assert sender_target(url) == (target.host, target.port), url
        parts = urlsplit(url)
        default = 443 if parts.scheme.lower() == "https" else 80
        assert (parts.hostname, parts.port or default) == (target.host, target.port), url
    assert accepted > 100 and refused > 1000  # the fuzz reaches both sides


# --- classification ----------------------------------------------------------------------------

# 169.254.169.254 written as each IPv6 form that carries an IPv4 address, with
# the broad exemption that covers that form.
METADATA_IN_DISGUISE = [
    ("::ffff:169.254.169.254", "::ffff:0:0/96"),  # IPv4-mapped
    ("::169.254.169.254", "::/96"),  # IPv4-compatible (deprecated)
    ("::ffff:0:a9fe:a9fe", "::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
    ("64:ff9b::a9fe:a9fe", "64:ff9b::/96"),  # NAT64 well-known prefix
    ("2002:a9fe:a9fe::1", "2002::/16"),  # 6to4
    ("2001:0:a9fe:a9fe::f7f7:f7f7", "2001::/32"),  # Teredo, metadata as the server
    ("2001:0:4136:e378:8000:63bf:5601:5601", "2001::/32"),  # Teredo, metadata as the client
]


@pytest.mark.parametrize(("address", "network"), METADATA_IN_DISGUISE)
def test_metadata_inside_an_ipv6_address_stays_blocked_under_a_broad_exemption(address, network):
    assert ipaddress.IPv4Address("169.254.169.254") in embedded_ipv4(ipaddress.ip_address(address))
    assert is_allowed_address(address, parse_networks([network])) is False
    assert is_allowed_address(address) is False


@pytest.mark.parametrize("address", sorted(addresses.METADATA_ADDRESSES, key=str))
@pytest.mark.parametrize("network", ["0.0.0.0/0", "::/0", "single"])
def test_metadata_services_are_never_allowed(address, network):
    """Not by a broad exemption, not even by an entry naming exactly that address."""
    cidr = f"{address}/{address.max_prefixlen}" if network == "single" else network
    assert is_allowed_address(address, parse_networks([cidr])) is False


def test_a_zone_id_does_not_hide_a_metadata_address():
    scoped = ipaddress.ip_address("fd00:ec2::254%eth0")
    assert is_allowed_address("fd00:ec2::254%eth0", parse_networks(["fd00::/8"])) is False
    assert is_allowed_address(scoped, parse_networks(["fd00::/8"])) is False
    assert is_allowed_address("fd00:ec2::1%eth0", parse_networks(["fd00::/8"])) is True


@pytest.mark.parametrize(
    "address",
    [
        "fec0::1",  # site-local (deprecated, still routed inside some networks)
        "feff::1",
        "64:ff9b:1::a00:1",  # local-use NAT64 prefix
        "64:ff9b::a00:1",  # NAT64 to 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 to 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 through 192.168.1.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
        "192.0.0.192",  # IETF protocol assignments (an old metadata address)
        "3fff::1",  # documentation (RFC 9637)
    ],
)
def test_addresses_that_are_not_public_are_refused(address):
    assert is_public_address(ipaddress.ip_address(address)) is False
    assert is_allowed_address(address) is False


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # what DNS64 answers for 8.8.8.8 on an IPv6-only network
        "2002:808:808::1",
        "2606:4700::1111",
    ],
)
def test_public_addresses_and_their_ipv6_forms_are_allowed(address):
    assert is_allowed_address(address) is True


def test_a_mapped_address_is_covered_by_its_ipv4_network():
    """::ffff:127.0.0.1 is 127.0.0.1 on the wire: an exemption for one covers the other."""
    loopback = parse_networks(["127.0.0.0/8"])
    assert is_allowed_address("::ffff:127.0.0.1", loopback) is True
    assert is_allowed_address("::1", loopback) is False
    assert is_allowed_address("::ffff:10.0.0.1", parse_networks(["::ffff:0:0/96"])) is True


def test_an_exemption_opens_its_network_and_nothing_else():
    nets = parse_networks(["10.1.0.0/16", "2002::/16"])
    assert is_allowed_address("10.1.2.3", nets) is True
    assert is_allowed_address("2002:a00:1::1", nets) is True  # 6to4 via 10.0.0.1: asked for
    assert is_allowed_address("10.2.0.1", nets) is False


# --- resolution (the resolver is always passed in) --------------------------------------------


def test_resolve_allowed_refuses_a_name_with_one_disguised_metadata_address():
    def resolver(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:169.254.169.254", port, 0, 0)),
        ]

    with pytest.raises(BlockedAddress, match=r"169\.254\.169\.254"):
        resolve_allowed(
            "meta.example.test", 80, parse_networks(["::ffff:0:0/96"]), resolver=resolver
        )
    calls: list = []
    assert resolve_allowed("ok.example.test", 80, resolver=recording_resolver(calls)) == PUBLIC_IP
    assert calls == [("ok.example.test", 80)]
