"""The delivery transports: SSRF guard, pooled connections, capped reads, errors.

Address classification is tested as pure functions. Real requests go ONLY to
127.0.0.1: names are resolved by fakes that answer loopback addresses and
nothing else, so no test can reach any other host, even when the guard is broken.
Every test taking ``post`` runs twice: with ``transport.post`` and with
``AsyncClient.post`` on a loop in another thread (tests/transport/conftest.py).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.conftest import Reply
from tests.transport.conftest import fake_resolver
from webhooks_app.transport import client as transport
from webhooks_app.transport.client import (
    BlockedAddress,
    get_pool_manager,
    is_allowed_address,
    parse_networks,
    resolve_allowed,
)

LOOPBACK = parse_networks(["127.0.0.0/8", "::1/128"])
ALLOW_LOOPBACK = ["127.0.0.0/8"]
TIMEOUT = (2.0, 3.0)

PRIVATE = [
    "10.0.0.1",
    "10.255.255.255",
    "172.16.5.4",
    "172.31.255.254",
    "192.168.1.1",
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "169.254.169.254",  # cloud metadata
    "100.100.100.200",  # Alibaba metadata
    "fd00:ec2::254",  # AWS metadata over IPv6
    "169.254.1.1",
    "fe80::1",
    "fe80::1%eth0",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "0.0.0.0",
    "::",
    "255.255.255.255",
    "100.64.0.1",  # carrier-grade NAT
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "fd00::1",
    "fc00::1",
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "2001:db8::1",  # documentation
    "240.0.0.1",  # reserved
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "::ffff:8.8.8.8",  # IPv4-mapped: classified by the IPv4 address it carries
    "2606:4700::1111",
    "2001:4860:4860::8888",
]


# --- pure classification -----------------------------------------------------------------------


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_special_addresses_are_refused(address):
    assert is_allowed_address(address) is False


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert is_allowed_address(address) is True


def test_ip_address_objects_are_accepted():
    assert is_allowed_address(ipaddress.ip_address("8.8.8.8")) is True
    assert is_allowed_address(ipaddress.ip_address("10.0.0.1")) is False


@pytest.mark.parametrize(
    "address",
    [
        "2002:a00:1::",  # 6to4 wrapping 10.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 wrapping 169.254.169.254
        "2002:7f00:1::1",  # 6to4 wrapping 127.0.0.1
    ],
)
def test_6to4_addresses_wrapping_private_ipv4_are_refused(address):
    # 6to4 (2002::/16) carries an IPv4 address that a 6to4 relay forwards to. Whether
    # ipaddress calls these "global" has changed between CPython releases; the guard
    # must refuse them whatever the interpreter's tables say.
    assert is_allowed_address(address) is False


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.53", "::1"])
def test_allowed_networks_exempt_loopback(address):
    assert is_allowed_address(address, LOOPBACK) is True


@pytest.mark.parametrize(
    "address", ["10.0.0.1", "169.254.169.254", "192.168.1.1", "fd00::1", "::2", "0.0.0.0"]
)
def test_allowed_networks_exempt_only_themselves(address):
    assert is_allowed_address(address, LOOPBACK) is False


def test_allowed_ipv4_network_does_not_exempt_ipv6():
    assert is_allowed_address("::1", parse_networks(["127.0.0.0/8"])) is False
    assert is_allowed_address("127.0.0.1", parse_networks(["::1/128"])) is False


def test_allowed_network_can_exempt_a_private_range():
    nets = parse_networks(["10.1.0.0/16"])
    assert is_allowed_address("10.1.2.3", nets) is True
    assert is_allowed_address("10.2.0.1", nets) is False


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("169.254.169.254", "169.254.0.0/16"),
        ("100.100.100.200", "100.64.0.0/10"),
        ("fd00:ec2::254", "fd00::/8"),
    ],
)
def test_metadata_addresses_stay_blocked_inside_a_broad_allowed_network(address, network):
    # Allowing a private range for internal receivers must not open the cloud
    # metadata service that happens to sit in it (METADATA_ADDRESSES exists for that).
    nets = parse_networks([network])
    assert is_allowed_address(address, nets) is False
    neighbour = ipaddress.ip_address(address) + 1
    assert is_allowed_address(neighbour, nets) is True


def test_public_addresses_stay_allowed_with_allowed_networks():
    assert is_allowed_address("8.8.8.8", LOOPBACK) is True


# --- resolution with a fake resolver (no DNS) -----------------------------------------------------


def test_resolve_allowed_returns_a_public_address():
    resolver = fake_resolver({"hooks.example.com": ["93.184.216.34", "2606:4700::1111"]})
    assert resolve_allowed("hooks.example.com", 443, resolver=resolver) == "93.184.216.34"
    assert resolver.calls[0][:2] == ("hooks.example.com", 443)
    assert resolver.calls[0][2].get("type") == socket.SOCK_STREAM


@pytest.mark.parametrize(
    "addresses",
    [
        ["93.184.216.34", "10.0.0.1"],
        ["10.0.0.1", "93.184.216.34"],
        ["2606:4700::1111", "::1"],
        ["169.254.169.254"],
    ],
)
def test_resolve_allowed_refuses_a_name_with_any_private_address(addresses):
    resolver = fake_resolver({"mixed.example.com": addresses})
    with pytest.raises(BlockedAddress) as info:
        resolve_allowed("mixed.example.com", 443, resolver=resolver)
    private = next(a for a in addresses if not is_allowed_address(a))
    assert private in str(info.value)


def test_resolve_allowed_refuses_an_empty_answer():
    with pytest.raises(BlockedAddress):
        resolve_allowed("empty.example.com", 443, resolver=lambda *a, **k: [])


def test_resolve_allowed_deduplicates_addresses():
    resolver = fake_resolver({"dup.example.com": ["8.8.8.8", "8.8.8.8", "1.1.1.1"]})
    assert resolve_allowed("dup.example.com", 80, resolver=resolver) == "8.8.8.8"


def test_resolve_allowed_with_allowed_networks():
    resolver = fake_resolver({"local.test": ["127.0.0.1", "::1"]})
    assert resolve_allowed("local.test", 80, LOOPBACK, resolver=resolver) == "127.0.0.1"
    with pytest.raises(BlockedAddress):
        resolve_allowed("local.test", 80, parse_networks(["127.0.0.0/8"]), resolver=resolver)


def test_resolve_allowed_propagates_resolution_errors():
    with pytest.raises(socket.gaierror):
        resolve_allowed("nowhere.test", 80, resolver=fake_resolver({}))


# --- real requests, to 127.0.0.1 only -------------------------------------------------------------


def test_loopback_is_blocked_without_the_allowance(http_server, post):
    response = post(http_server.url(), b"{}", {}, timeout=TIMEOUT)
    assert response.status_code is None
    assert response.error_kind == "blocked_address"
    assert "127.0.0.1" in response.error
    time.sleep(0.2)
    assert http_server.requests == []


def test_post_with_the_allowance_succeeds(http_server, post):
    http_server.reply(Reply(status=202, body=b"accepted", headers={"X-Reply": "yes"}))
    response = post(
        http_server.url("/in"),
        b'{"a": 1}',
        {"Content-Type": "application/json", "webhook-id": "msg_1"},
        timeout=TIMEOUT,
        allowed_networks=ALLOW_LOOPBACK,
    )
    assert response.status_code == 202
    assert response.body == "accepted"
    assert response.error_kind == ""
    assert response.headers["X-Reply"] == "yes"
    assert response.duration_ms >= 0
    (request,) = http_server.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/in"
    assert request.body == b'{"a": 1}'
    assert request.headers["webhook-id"] == "msg_1"
    assert request.headers["Content-Type"] == "application/json"


def test_response_headers_are_case_insensitive(http_server, post):
    # delivery.py reads response.headers.get("Retry-After"); servers often send it lower-case.
    http_server.reply(Reply(status=503, headers={"retry-after": "7"}))
    response = post(http_server.url(), b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert response.status_code == 503
    assert response.headers.get("Retry-After") == "7"


def test_error_status_is_returned_with_its_body(http_server, post):
    http_server.reply(Reply(status=500, body=b"boom"))
    response = post(http_server.url(), b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert (response.status_code, response.body, response.error_kind) == (500, "boom", "")


def test_redirect_is_not_followed(http_server, post):
    elsewhere = http_server.url("/elsewhere")  # loopback too, should it ever be followed
    http_server.reply(Reply(status=302, headers={"Location": elsewhere}))
    response = post(http_server.url(), b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert response.status_code == 302
    assert response.headers["Location"] == elsewhere
    time.sleep(0.2)
    assert [r.path for r in http_server.requests] == ["/hook"]


@pytest.mark.parametrize("status", [301, 307, 308])
def test_other_redirects_are_not_followed(http_server, status, post):
    http_server.reply(Reply(status=status, headers={"Location": http_server.url("/moved")}))
    response = post(http_server.url(), b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert response.status_code == status
    time.sleep(0.2)
    assert len(http_server.requests) == 1


def test_response_body_is_capped(http_server, post):
    http_server.reply(Reply(body=b"x" * 100_000))
    response = post(
        http_server.url(),
        b"{}",
        {},
        timeout=TIMEOUT,
        allowed_networks=ALLOW_LOOPBACK,
        max_body=1000,
    )
    assert response.status_code == 200
    assert response.body == "x" * 1000


def test_response_body_default_cap(http_server, post):
    http_server.reply(Reply(body=b"y" * 50_000))
    response = post(http_server.url(), b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert response.body == "y" * 20_480


def test_short_response_body_is_read_whole(http_server, post):
    http_server.reply(Reply(body="héllo".encode()))
    response = post(
        http_server.url(),
        b"{}",
        {},
        timeout=TIMEOUT,
        allowed_networks=ALLOW_LOOPBACK,
        max_body=1000,
    )
    assert response.body == "héllo"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_a_connection_error(post):
    response = post(
        f"http://127.0.0.1:{free_port()}/hook",
        b"{}",
        {},
        timeout=TIMEOUT,
        allowed_networks=ALLOW_LOOPBACK,
    )
    assert response.status_code is None
    assert response.error_kind == "connection"
    assert response.error


def test_slow_reply_is_a_timeout(http_server, post):
    http_server.reply(Reply(delay=1.5))
    started = time.monotonic()
    response = post(
        http_server.url(), b"{}", {}, timeout=(2.0, 0.3), allowed_networks=ALLOW_LOOPBACK
    )
    assert response.status_code is None
    assert response.error_kind == "timeout"
    assert time.monotonic() - started < 1.4


@pytest.fixture
def drip_server():
    """A loopback server that sends its headers, then one body byte every 0.25 s."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n")
            for _ in range(24):
                if stop.wait(0.25):
                    return
                try:
                    conn.sendall(b"z")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    stop.set()
    listener.close()
    thread.join(5)


def test_a_dripping_reply_cannot_outlast_the_timeouts(drip_server, post):
    # Each byte arrives within the read timeout, but the whole reply takes ~6 s. The
    # delivery lease is connect + read + margin, so a request must not outlast them.
    connect, read = 0.5, 0.5
    started = time.monotonic()
    response = post(
        drip_server, b"{}", {}, timeout=(connect, read), allowed_networks=ALLOW_LOOPBACK
    )
    elapsed = time.monotonic() - started
    assert elapsed < connect + read + 1.0
    # The status arrived in time, so it stands; only the body read is cut short.
    assert response.status_code == 200
    assert 0 < len(response.body) < 24


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "127.0.0.1/hook",
        "",
    ],
)
def test_non_http_url_is_invalid(http_server, url, post):
    response = post(url, b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert response.status_code is None
    assert response.error_kind == "invalid_url"
    assert http_server.requests == []


def test_http_url_without_a_host_is_invalid(post):
    response = post("http:///hook", b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert response.error_kind == "invalid_url"


# --- the guard on named hosts (fake DNS answering loopback only) ----------------------------------


def test_named_host_is_connected_to_the_checked_address(http_server, fake_dns, post):
    guard_table, _socket_table = fake_dns
    guard_table["hooks.example.test"] = ["127.0.0.1"]
    # socket_table has no entry: if the connection re-resolved the name, it would fail.
    url = f"http://hooks.example.test:{http_server.port}/named"
    response = post(url, b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert response.status_code == 200, response.error
    (request,) = http_server.wait_for(1)
    assert request.path == "/named"
    assert request.headers["Host"] == f"hooks.example.test:{http_server.port}"


@pytest.mark.parametrize(
    "addresses", [["10.0.0.1"], ["127.0.0.1", "10.0.0.1"], ["169.254.169.254", "127.0.0.1"]]
)
def test_named_host_with_a_private_address_is_blocked(http_server, fake_dns, addresses, post):
    guard_table, socket_table = fake_dns
    guard_table["evil.example.test"] = addresses
    socket_table["evil.example.test"] = ["127.0.0.1"]  # where a broken guard would end up
    url = f"http://evil.example.test:{http_server.port}/hook"
    response = post(url, b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert response.error_kind == "blocked_address"
    time.sleep(0.2)
    assert http_server.requests == []


@pytest.mark.parametrize(
    ("disguised", "exemption"),
    [
        ("::ffff:169.254.169.254", "::ffff:0:0/96"),
        ("2002:a9fe:a9fe::1", "2002::/16"),
        ("64:ff9b::a9fe:a9fe", "64:ff9b::/96"),
    ],
)
def test_a_name_with_a_disguised_metadata_address_never_connects(
    http_server, fake_dns, disguised, exemption, post
):
    # A guard that let the metadata address pass would connect to the first
    # address, 127.0.0.1, and the recording server would see the request.
    guard_table, _socket_table = fake_dns
    guard_table["meta.example.test"] = ["127.0.0.1", disguised]
    url = f"http://meta.example.test:{http_server.port}/latest/meta-data/"
    response = post(url, b"{}", {}, timeout=TIMEOUT, allowed_networks=[*ALLOW_LOOPBACK, exemption])
    assert response.error_kind == "blocked_address", response
    assert "169.254.169.254" in response.error or disguised in response.error
    assert http_server.requests == []


def test_a_url_that_parsers_read_differently_is_refused_before_connecting(http_server, post):
    # urllib3 connects to 127.0.0.1; urlsplit (and the old endpoint check) saw hooks.example.test.
    url = f"http://127.0.0.1:{http_server.port}\\@hooks.example.test/hook"
    response = post(url, b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert response.error_kind == "invalid_url", response
    assert http_server.requests == []


# --- the pooled connections ----------------------------------------------------------------------


def test_pools_are_reused_in_one_process():
    assert get_pool_manager() is get_pool_manager()
    assert get_pool_manager(["127.0.0.0/8"]) is get_pool_manager(("127.0.0.0/8",))
    assert get_pool_manager(["127.0.0.0/8"]) is not get_pool_manager()


def test_pools_are_per_process(monkeypatch):
    before = get_pool_manager()
    monkeypatch.setattr(transport.os, "getpid", lambda: -12345)
    assert get_pool_manager() is not before


def test_proxies_from_the_environment_are_ignored(http_server, monkeypatch, post):
    # A proxy would bypass the address guard. Were it used, the request would go to
    # port 9 of loopback (discard) and fail instead of reaching the server.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    response = post(http_server.url(), b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert response.status_code == 200, response.error


def test_post_reuses_its_keep_alive_connection(http_server):
    # AsyncClient's pool: tests/transport/test_async_client.py.
    for _ in range(3):
        response = transport.post(
            http_server.url(), b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK
        )
        assert response.status_code == 200
    pool = get_pool_manager(ALLOW_LOOPBACK).connection_from_url(http_server.url())
    assert pool.num_connections == 1  # three requests, one connection
    assert pool.num_requests >= 3


def test_a_password_in_the_url_never_reaches_the_error_text(post):
    # requests quotes the whole URL in this error; nothing is sent (there is no host).
    response = post(
        "http://user:s3cr3t-pw@/hook", b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK
    )
    assert response.error_kind == "invalid_url"
    assert "No host" in response.error
    assert "s3cr3t-pw" not in response.error


def test_a_request_past_its_deadline_is_never_sent(http_server, post):
    # A worker stopped (SIGSTOP, a long GC pause) between the claim and the send: its
    # lease may have gone to another worker, which sends the same delivery.
    response = post(
        http_server.url("/late"),
        b"{}",
        {},
        timeout=TIMEOUT,
        allowed_networks=ALLOW_LOOPBACK,
        deadline=time.monotonic() - 0.001,
    )
    assert response.error_kind == "not_sent" and "before it was sent" in response.error
    time.sleep(0.2)
    assert http_server.requests == []


def test_a_deadline_that_passes_while_connecting_stops_the_request(http_server, monkeypatch):
    from urllib3.connection import HTTPConnection

    connect = HTTPConnection._new_conn

    def slow_connect(self):
        sock = connect(self)
        time.sleep(0.3)  # as if the connect (or the process) stalled
        return sock

    monkeypatch.setattr(HTTPConnection, "_new_conn", slow_connect)
    response = transport.post(
        http_server.url("/slow-connect"),
        b"{}",
        {},
        timeout=TIMEOUT,
        allowed_networks=ALLOW_LOOPBACK,
        deadline=time.monotonic() + 0.1,
    )
    assert response.error_kind == "not_sent", response
    time.sleep(0.2)
    assert http_server.requests == []


def test_the_connected_peer_is_checked_again(http_server, monkeypatch, post):
    # The address was allowed when resolved; the socket's peer is checked once more
    # before a byte is sent (here the second check refuses what the first allowed).
    from webhooks_app.transport import async_client

    def refuse(address, allowed=()):
        return False

    monkeypatch.setattr(transport, "is_allowed_address", refuse)
    monkeypatch.setattr(async_client, "is_allowed_address", refuse)
    response = post(http_server.url(), b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert response.error_kind == "blocked_address", response
    assert response.error.startswith("Connected to 127.0.0.1"), response
    time.sleep(0.2)
    assert http_server.requests == []


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A loopback port whose connects hang: its listener's queue is full and never read
    (Linux drops the SYNs, as a firewall that drops packets would)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))  # fills the queue
    yield port
    filler.close()
    listener.close()


def test_a_connect_that_hangs_ends_by_the_connect_timeout(unanswered_port, post):
    started = time.monotonic()
    response = post(
        f"http://127.0.0.1:{unanswered_port}/hook",
        b"{}",
        {},
        timeout=(0.3, 5.0),
        allowed_networks=ALLOW_LOOPBACK,
    )
    assert response.error_kind == "timeout", response
    assert "timed out" in response.error, response
    assert time.monotonic() - started < 1.2


def test_a_deadline_that_passes_while_connecting_ends_the_request_unsent(unanswered_port, post):
    # The connect timeout alone would allow 5 s; the deadline comes first, nothing was sent.
    started = time.monotonic()
    response = post(
        f"http://127.0.0.1:{unanswered_port}/hook",
        b"{}",
        {},
        timeout=(5.0, 5.0),
        allowed_networks=ALLOW_LOOPBACK,
        deadline=time.monotonic() + 0.3,
    )
    assert response.error_kind == "not_sent", response
    assert time.monotonic() - started < 1.2


def test_a_deadline_that_passes_while_resolving_stops_the_request(http_server, fake_dns, post):
    fake_dns.guard["slow.example.test"] = ["127.0.0.1"]
    fake_dns.delay = 0.4  # the lookup (or the worker) stalls past the deadline
    response = post(
        f"http://slow.example.test:{http_server.port}/hook",
        b"{}",
        {},
        timeout=TIMEOUT,
        allowed_networks=ALLOW_LOOPBACK,
        deadline=time.monotonic() + 0.1,
    )
    assert response.error_kind == "not_sent", response
    time.sleep(0.2)
    assert http_server.requests == []


def test_a_password_in_the_url_is_masked_in_a_connection_error(post):
    response = post(
        f"http://user:s3cr3t-pw@127.0.0.1:{free_port()}/hook",
        b"{}",
        {},
        timeout=TIMEOUT,
        allowed_networks=ALLOW_LOOPBACK,
    )
    assert response.error_kind == "connection", response
    assert "s3cr3t-pw" not in response.error


def test_credentials_in_the_url_are_not_sent(http_server, post):
    url = http_server.url().replace("127.0.0.1", "user:s3cr3t-pw@127.0.0.1")
    response = post(url, b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)
    assert response.status_code == 200, response
    (request,) = http_server.wait_for(1)
    assert "Authorization" not in request.headers
    assert request.headers["Host"] == f"127.0.0.1:{http_server.port}"


def test_a_refused_address_is_never_connected_to(post):
    # The guard refuses before connecting (the peer check after it is a second line).
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.3)
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        response = post(url, b"{}", {}, timeout=TIMEOUT)
        assert response.error_kind == "blocked_address", response
        with pytest.raises(TimeoutError):
            listener.accept()[0].close()
    finally:
        listener.close()
