"""Hostile receivers against both transports, one request each, no database.

The raw-socket server of tests/hostile.py plays one misbehaviour per test, byte
by byte; every test runs with ``transport.post`` and with ``AsyncClient.post``
(the ``post`` fixture, tests/transport/conftest.py). Whatever the receiver does,
the call returns a Response (it never raises), by the request's deadline, with
the error kind the retry policy expects and the status whenever a whole status
line and head arrived. tests/sending/test_hostile_receivers.py shows the same
through the engine, Attempt rows and all.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator

import pytest

from tests.hostile import (
    HUGE_BODY_BYTES,
    NUL_BODY,
    UNKNOWN_CHARSET_BODY,
    Behaviour,
    HostileServer,
    answer,
    close_before_status,
    close_mid_body,
    drip_body,
    drip_headers,
    drip_status_line,
    garbage_status_line,
    gzip_bomb,
    head,
    invalid_gzip,
    nul_bytes,
    reset_after_headers,
    reset_before_status,
    stall_after_headers,
    unknown_charset,
)
from webhooks_app.transport.response import BODY_LATE, NO_ANSWER

ALLOW_LOOPBACK = ["127.0.0.0/8"]
CONNECT, READ = 1.0, 1.0
DEADLINE = CONNECT + READ
SLACK = 0.7  # scheduling on a busy machine


@pytest.fixture
def hostile() -> Iterator[Callable[[Behaviour], HostileServer]]:
    servers: list[HostileServer] = []

    def start(behaviour: Behaviour) -> HostileServer:
        servers.append(HostileServer(behaviour).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


class Sent:
    """One request to a hostile server: its Response and how long it took."""

    def __init__(self, post, url: str, **kwargs) -> None:
        kwargs.setdefault("timeout", (CONNECT, READ))
        started = time.monotonic()
        self.response = post(url, b'{"a":1}', {}, allowed_networks=ALLOW_LOOPBACK, **kwargs)
        self.elapsed = time.monotonic() - started

    def __repr__(self) -> str:
        r = self.response
        return (
            f"<{self.elapsed:.2f}s status={r.status_code} kind={r.error_kind!r} "
            f"error={r.error!r} body={r.body[:40]!r}>"
        )


# --- no status ------------------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", [drip_status_line, drip_headers], ids=lambda b: b.__name__)
def test_a_head_that_never_completes_times_out_by_the_deadline(hostile, post, behaviour):
    """A byte every 0.3 s never trips the 1 s read timeout; the deadline ends it, and the
    status line that came whole before the cut-off (drip_headers) is not trusted."""
    sent = Sent(post, hostile(behaviour).url)

    assert sent.elapsed < DEADLINE + SLACK, sent
    assert sent.elapsed > DEADLINE - 0.2, sent
    assert sent.response.status_code is None, sent
    assert (sent.response.error_kind, sent.response.error) == ("timeout", NO_ANSWER), sent


@pytest.mark.parametrize(
    "behaviour",
    [reset_before_status, close_before_status, garbage_status_line],
    ids=lambda b: b.__name__,
)
def test_no_status_line_is_a_connection_error(hostile, post, behaviour):
    server = hostile(behaviour)
    sent = Sent(post, server.url)

    assert sent.response.status_code is None, sent
    assert sent.response.error_kind == "connection" and sent.response.error, sent
    assert sent.elapsed < 1, sent
    assert len(server.requests) == 1


def test_a_head_with_too_many_headers_is_a_connection_error(hostile, post):
    lines = "".join(f"X-{n}: a\r\n" for n in range(150))
    raw = f"HTTP/1.1 200 OK\r\n{lines}Content-Length: 2\r\nConnection: close\r\n\r\nok"
    sent = Sent(post, hostile(lambda conn, stop: conn.sendall(raw.encode())).url)

    assert sent.response.status_code is None, sent
    assert sent.response.error_kind == "connection", sent
    assert "100 headers" in sent.response.error, sent


# --- a status, then a body that cannot be read whole --------------------------------------------


BROKEN_BODIES = [reset_after_headers, close_mid_body, stall_after_headers, drip_body, invalid_gzip]


@pytest.mark.parametrize("status", [200, 500])
@pytest.mark.parametrize("broken", BROKEN_BODIES, ids=lambda b: b.__name__)
def test_a_body_that_cannot_be_read_whole_keeps_the_status(hostile, post, broken, status):
    sent = Sent(post, hostile(broken(status)).url)

    assert sent.elapsed < DEADLINE + SLACK, sent
    assert sent.response.status_code == status, sent
    assert sent.response.error_kind == "response_body", sent
    assert sent.response.error, sent


def test_a_body_cut_by_the_deadline_says_so_and_keeps_what_came(hostile, post):
    sent = Sent(post, hostile(drip_body(200)).url)

    assert sent.response.error == BODY_LATE, sent
    assert 0 < len(sent.response.body) < 100 and set(sent.response.body) == {"z"}, sent


def test_a_stalled_body_ends_by_the_read_timeout(hostile, post):
    sent = Sent(post, hostile(stall_after_headers(200)).url, timeout=(1.0, 0.4))

    assert 0.3 < sent.elapsed < 1.0, sent
    assert sent.response.body == "ab", sent
    assert "timed out" in sent.response.error, sent


def test_a_reset_body_keeps_what_arrived(hostile, post):
    sent = Sent(post, hostile(reset_after_headers(200)).url)

    assert sent.response.body == "partial", sent
    assert "reset" in sent.response.error.lower(), sent


# --- bodies that are hostile to reading, decoding or storing ------------------------------------


def test_a_huge_body_is_capped_without_reading_it(hostile, post):
    """64 MiB announced and sent as fast as the client reads: the client stops at the cap
    and hangs up, so the server gets rid of little more than the socket buffers hold."""
    written: list[int] = []

    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head(200, f"Content-Length: {HUGE_BODY_BYTES}"))
        total, chunk = 0, b"x" * 65536
        try:
            while total < HUGE_BODY_BYTES and not stop.is_set():
                conn.sendall(chunk)
                total += len(chunk)
        finally:
            written.append(total)

    sent = Sent(post, hostile(behaviour).url, max_body=5000)

    assert sent.response.status_code == 200 and sent.response.error_kind == "", sent
    assert sent.response.body == "x" * 5000
    deadline = time.monotonic() + 3
    while not written and time.monotonic() < deadline:
        time.sleep(0.02)
    assert written and written[0] < HUGE_BODY_BYTES // 8, written


def test_a_gzip_bomb_is_inflated_only_up_to_the_cap(hostile, post):
    sent = Sent(post, hostile(gzip_bomb(200)).url, max_body=4096)

    assert sent.response.status_code == 200 and sent.response.error_kind == "", sent
    assert sent.response.body == "\x00" * 4096


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, no zlib wrapping
        ("gzip, deflate", lambda data: zlib.compress(gzip.compress(data))),
        ("GZIP", lambda data: gzip.compress(data[:10]) + gzip.compress(data[10:])),  # 2 members
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate", "stacked", "two-members"],
)
def test_compressed_bodies_are_inflated(hostile, post, encoding, encode):
    text = "inflated: " + "ä" * 50
    reply = answer(
        200, encode(text.encode()), f"Content-Encoding: {encoding}", "Content-Type: text/plain"
    )
    sent = Sent(post, hostile(reply).url)

    assert (sent.response.body, sent.response.error_kind) == (text, ""), sent


def test_an_encoding_neither_knows_is_kept_as_it_came(hostile, post):
    sent = Sent(post, hostile(answer(200, b"not-brotli", "Content-Encoding: br")).url)

    assert (sent.response.body, sent.response.error_kind) == ("not-brotli", ""), sent


@pytest.mark.parametrize("charset", ["no-such-codec", "base64", "rot13", "zlib"])
def test_a_charset_that_is_no_text_encoding_is_read_as_utf8(hostile, post, charset):
    reply = answer(200, UNKNOWN_CHARSET_BODY, f"Content-Type: text/plain; charset={charset}")
    sent = Sent(post, hostile(reply).url)

    assert sent.response.status_code == 200 and sent.response.error_kind == "", sent
    assert sent.response.body == "café ok \ufffd", sent


def test_a_named_charset_is_used(hostile, post):
    reply = answer(200, "café".encode("latin-1"), "Content-Type: text/plain; charset=latin-1")
    assert Sent(post, hostile(reply).url).response.body == "café"


def test_an_unknown_charset_with_a_500_keeps_the_status(hostile, post):
    sent = Sent(post, hostile(unknown_charset(500)).url)
    assert (sent.response.status_code, sent.response.body) == (500, "café ok \ufffd"), sent


def test_nul_bytes_are_kept_for_the_recording_to_replace(hostile, post):
    sent = Sent(post, hostile(nul_bytes(200)).url)
    assert sent.response.body == NUL_BODY.decode(), sent


# --- answers that are odd but valid HTTP --------------------------------------------------------


def raw(data: bytes) -> Behaviour:
    return lambda conn, stop: conn.sendall(data)


@pytest.mark.parametrize(
    ("reply", "status", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", 200, "until the end"),
        (b"HTTP/1.0 201 Created\r\n\r\nold", 201, "old"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            200,
            "abcde",
        ),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
            204,
            "",
        ),
        (b"HTTP/1.1 299\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", 299, "ok"),
    ],
    ids=["until-close", "http-1.0", "chunked", "100-continue", "no-reason"],
)
def test_valid_but_unusual_answers_are_read(hostile, post, reply, status, body):
    sent = Sent(post, hostile(raw(reply)).url)
    assert (sent.response.status_code, sent.response.body, sent.response.error_kind) == (
        status,
        body,
        "",
    ), sent


def test_repeated_and_latin1_headers_read_as_http_client_reads_them(hostile, post):
    reply = (
        b"HTTP/1.1 429 Too Many Requests\r\nX-A: one\r\nx-a: two\r\nRetry-After: 7\r\n"
        b"X-Name: caf\xe9\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    headers = Sent(post, hostile(raw(reply)).url).response.headers

    assert headers["X-A"] == "one, two"
    assert headers.get("retry-after") == "7"
    assert headers["x-name"] == "café"


# --- the request itself ---------------------------------------------------------------------------


def test_head_and_body_arrive_in_one_segment(post):
    """The request is written once: the receiver's first read holds all of it."""
    listener = socket.create_server(("127.0.0.1", 0))
    first_reads: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            time.sleep(0.2)  # let every byte the client wrote arrive
            first_reads.append(conn.recv(65536))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    body = b'{"payload": "' + b"p" * 2000 + b'"}'
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/one-write"
    response = post(
        url, body, {"webhook-id": "msg_1"}, timeout=(1, 1), allowed_networks=ALLOW_LOOPBACK
    )
    thread.join(5)
    listener.close()

    assert response.status_code == 200, response
    (head_and_body,) = first_reads
    assert head_and_body.startswith(b"POST /one-write HTTP/1.1\r\n")
    assert head_and_body.endswith(b"\r\n\r\n" + body)


@pytest.mark.parametrize(
    "value", ["a\r\nX-Injected: 1", "a\nX-Injected: 1", "nul\x00"], ids=["crlf", "lf", "nul"]
)
def test_a_header_value_that_would_split_the_request_is_refused(hostile, post, value):
    server = hostile(answer(200, b"ok"))
    response = post(
        server.url, b"{}", {"X-Note": value}, timeout=(1, 1), allowed_networks=ALLOW_LOOPBACK
    )

    assert response.error_kind == "invalid_header", response
    assert "X-Injected" not in response.error and value not in response.error
    time.sleep(0.2)
    assert server.requests == []


def test_a_header_value_beyond_latin1_is_refused(hostile, post):
    server = hostile(answer(200, b"ok"))
    response = post(
        server.url, b"{}", {"X-Note": "café ☕"}, timeout=(1, 1), allowed_networks=ALLOW_LOOPBACK
    )

    assert response.error_kind == "invalid_header", response
    assert "☕" not in response.error
    time.sleep(0.2)
    assert server.requests == []
