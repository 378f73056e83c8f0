"""A raw-socket HTTP server on 127.0.0.1 that misbehaves on purpose, and its behaviours.

Used by tests/sending/test_hostile_receivers.py (one delivery per behaviour) and the
fault suite's hostile-receiver matrix (many deliveries to many behaviours at
once). Each connection is read to the end of its request, which is recorded
as a :class:`Try` (with when it started and when the connection ended); then
the behaviour writes whatever bytes it likes. Behaviours that wait notice at
once when the sender hangs up, so a try's end time is the sender's, and they
give up after HOSTILE_BUDGET, so nothing outlives the test.
"""

from __future__ import annotations

import functools
import gzip
import io
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

DRIP_INTERVAL = 0.3  # seconds between two bytes of a dripping reply
HOSTILE_BUDGET = 5.0  # a stalling or dripping behaviour gives up (hangs up) after this

Behaviour = Callable[[socket.socket, threading.Event], None]


@dataclass
class Try:
    """One request the server read: its head's headers (lower-case names) and its span."""

    raw: bytes
    headers: dict[str, str]
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None  # when the connection ended (either side closed it)


def read_request(conn: socket.socket) -> bytes | None:
    """One whole HTTP request (head and Content-Length body); None if the client hung up."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return data


def parse_headers(request: bytes) -> dict[str, str]:
    head = request.partition(b"\r\n\r\n")[0].decode("latin-1")
    pairs = (line.partition(":") for line in head.split("\r\n")[1:])
    return {name.strip().lower(): value.strip() for name, _, value in pairs}


class HostileServer:
    """A raw-socket HTTP server on 127.0.0.1 that answers every request with one behaviour.

    ``requests`` holds each request's bytes, ``tries`` the same requests with
    their spans. ``accepts`` says whether the behaviour's answer is a success
    for the sender (a 2xx status, however broken the rest): the fault suite
    counts a second accepted try of one delivery as a duplicate.
    """

    def __init__(self, behaviour: Behaviour, *, accepts: bool = False) -> None:
        self.behaviour = behaviour
        self.accepts = accepts
        self.requests: list[bytes] = []
        self.tries: list[Try] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._listener.settimeout(0.1)
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/hook"

    def start(self) -> HostileServer:
        self._spawn(self._accept_loop)
        return self

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        item = None
        with conn:
            conn.settimeout(HOSTILE_BUDGET)
            try:
                request = read_request(conn)
                if request is None:
                    return
                item = Try(request, parse_headers(request))
                with self._lock:
                    self.requests.append(request)
                    self.tries.append(item)
                self.behaviour(conn, self._stop)
            except OSError:
                pass  # the client gave up on us (its deadline, a reset): expected here
        if item is not None:
            item.ended = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)


# --- behaviours: each writes raw bytes after reading the request --------------------------------


def head(status: int, *headers: str) -> bytes:
    """A status line and headers, ending with the blank line."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", *headers, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reset(conn: socket.socket) -> None:
    """Close with a TCP reset (RST) instead of an orderly FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def hung_up(conn: socket.socket, stop: threading.Event, seconds: float) -> bool:
    """Wait up to ``seconds``; True as soon as the client has closed its side (or on stop)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if stop.is_set():
            return True
        readable, _, _ = select.select([conn], [], [], min(left, 0.05))
        if readable:
            try:
                if conn.recv(1, socket.MSG_PEEK) == b"":
                    return True
            except OSError:
                return True
            stop.wait(min(left, 0.05))  # the client sent more bytes: not a hang-up
    return stop.is_set()


def drip(conn: socket.socket, stop: threading.Event, data: bytes) -> None:
    """Send ``data`` one byte every DRIP_INTERVAL, for at most HOSTILE_BUDGET."""
    started = time.monotonic()
    for byte in data:
        if hung_up(conn, stop, DRIP_INTERVAL) or time.monotonic() - started > HOSTILE_BUDGET:
            return
        conn.sendall(bytes([byte]))


def answer(status: int, body: bytes, *headers: str) -> Behaviour:
    """A well-formed reply, whose body may still be hostile to decoding or storing."""

    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head(status, f"Content-Length: {len(body)}", *headers) + body)

    return behaviour


def reset_before_status(conn: socket.socket, stop: threading.Event) -> None:
    reset(conn)


def close_before_status(conn: socket.socket, stop: threading.Event) -> None:
    pass  # the server closes the connection without a byte


def garbage_status_line(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 2OO 0K\xff\r\nContent-Length: 2\r\n\r\nok")


def drip_status_line(conn: socket.socket, stop: threading.Event) -> None:
    drip(conn, stop, head(200, "Content-Length: 2") + b"ok")


def drip_headers(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    drip(conn, stop, b"X-Slow: " + b"z" * 100 + b"\r\nContent-Length: 2\r\n\r\nok")


def reset_after_headers(status: int) -> Behaviour:
    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head(status, "Content-Length: 1000") + b"partial")
        stop.wait(0.3)  # the client has read the head by now: the reset hits the body
        reset(conn)

    return behaviour


def close_mid_body(status: int) -> Behaviour:
    """A body shorter than its Content-Length, then an orderly close."""

    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head(status, "Content-Length: 100") + b"short")

    return behaviour


def stall_after_headers(status: int) -> Behaviour:
    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head(status, "Content-Length: 100") + b"ab")
        hung_up(conn, stop, HOSTILE_BUDGET)

    return behaviour


def drip_body(status: int) -> Behaviour:
    """Each body byte within the read timeout, the whole body far beyond the deadline."""

    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head(status, "Content-Length: 100"))
        drip(conn, stop, b"z" * 100)

    return behaviour


def invalid_gzip(status: int) -> Behaviour:
    return answer(status, b"this is not gzip data", "Content-Encoding: gzip")


UNKNOWN_CHARSET_BODY = "café ok ".encode() + b"\xff"


def unknown_charset(status: int) -> Behaviour:
    return answer(status, UNKNOWN_CHARSET_BODY, "Content-Type: text/plain; charset=no-such-codec")


NUL_BODY = b"ok\x00\x00bad"


def nul_bytes(status: int) -> Behaviour:
    return answer(status, NUL_BODY, "Content-Type: text/plain; charset=utf-8")


HUGE_BODY_BYTES = 64 * 1024 * 1024  # announced; the sender must stop reading long before


def huge_body(status: int) -> Behaviour:
    """A 64 MiB body, sent as fast as the client reads it, until it hangs up."""

    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head(status, f"Content-Length: {HUGE_BODY_BYTES}"))
        chunk = b"x" * 65536
        for _ in range(HUGE_BODY_BYTES // len(chunk)):
            if stop.is_set():
                return
            conn.sendall(chunk)

    return behaviour


GZIP_BOMB_BYTES = 64 * 1024 * 1024  # what the body inflates to


@functools.cache
def gzip_bomb_body() -> bytes:
    """64 MiB of zeros, gzipped to about 64 KiB (made once per process, 1 MiB at a time)."""
    out = io.BytesIO()
    zeros = bytes(1024 * 1024)
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as packed:
        for _ in range(GZIP_BOMB_BYTES // len(zeros)):
            packed.write(zeros)
    return out.getvalue()


def gzip_bomb(status: int) -> Behaviour:
    body = gzip_bomb_body()
    return answer(status, body, "Content-Encoding: gzip", "Content-Type: text/plain")
