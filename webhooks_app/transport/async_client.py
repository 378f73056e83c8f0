"""HTTP transport for deliveries on an asyncio event loop, with every guarantee of ``post``.

:class:`AsyncClient` does for one event loop what :func:`webhooks_app.transport.post`
does for a thread, and its answers read the same (:class:`~.response.Response`,
the same error kinds and texts). h11 does all of HTTP (:mod:`.connection`); this
module connects, pools and keeps time:

- **SSRF guard on the connected address.** For every new connection the host is
  resolved and every address classified (:func:`.addresses.resolve_allowed`), the
  socket is connected to the very address that was checked, and its peer address
  is checked again before a byte is sent. Kept-alive connections were checked
  when opened. No proxy is ever read from the environment, no redirect followed.
- **TLS verified** for ``https``: the system's trust store, the certificate
  checked against the URL's host (sent as SNI) while the socket goes to the
  checked address.
- **One deadline** (a ``time.monotonic()`` value; by default now + connect + read)
  bounds the whole request: resolving, connecting, the TLS handshake, the head and
  the capped body. A request whose deadline has passed before its first byte would
  go out is not sent at all (``not_sent``); the head and the body go out in one
  write, after a last look at the clock. Within the deadline, connecting is bounded
  by the connect timeout and each wait for bytes by the read timeout, as in ``post``.
  h11 gives a status only with the whole head, so a head cut off by the deadline
  is a timeout, never a status.
- **Capped reads.** At most ``max_body`` bytes of the decoded body are read
  (gzip and deflate inflated within the cap, :mod:`.decoding`); the text is decoded
  with the response's charset when it names a text encoding, else UTF-8.
- **Pooled keep-alive.** Idle connections are kept per (scheme, host, port), at most
  ``pool_size`` of each; a connection goes back only after an answer read whole
  that both sides agreed to keep alive; a half-read answer closes it.

One client serves one event loop (in any thread) and any number of concurrent
posts on it. No models and no settings here: callers pass what a request needs.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import h11
from urllib3 import HTTPHeaderDict
from urllib3.util import parse_url

from webhooks_app.retry import ErrorKind
from webhooks_app.transport import addresses
from webhooks_app.transport.addresses import (
    BlockedAddress,
    Network,
    Target,
    UnsafeURL,
    is_allowed_address,
    parse_networks,
    parse_target,
)
from webhooks_app.transport.connection import Connection, ConnectionLost
from webhooks_app.transport.decoding import DecodeError, Decoder
from webhooks_app.transport.response import (
    BODY_LATE,
    ILLEGAL_HEADER,
    NO_ANSWER,
    NOT_SENT,
    UNENCODABLE_HEADER,
    Response,
    body_problem,
    charset,
    describe,
    ms_since,
)

# Set by the client from the URL and the body; a caller's own would misframe the request.
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_FAILURES = (OSError, h11.ProtocolError, BlockedAddress, DecodeError)

PoolKey = tuple[str, str, int]


def resolve_allowed(host: str, port: int, allowed: Iterable[Network] = ()) -> str:
    """Resolve ``host`` (blocking: run off the loop) and return an address to connect to,
    or raise BlockedAddress."""
    return addresses.resolve_allowed(host, port, allowed, resolver=socket.getaddrinfo)


@functools.lru_cache(maxsize=1024)
def _read_url(url: str) -> tuple[Target, str, str]:
    """Where a URL sends a request: the target, the request target and the Host header.

    Read as the endpoint checks read it (:func:`.addresses.parse_target`), once per URL.
    """
    target = parse_target(url)
    request_target = parse_url(url).request_uri
    host = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != addresses.SCHEMES[target.scheme]:
        host = f"{host}:{target.port}"
    return target, request_target, host


class _NotSent(Exception):
    """The deadline passed before the request's first byte would have gone out."""


class ConnectTimeoutError(TimeoutError):
    """Connecting took longer than the connect timeout (the deadline still ahead)."""


class ReadTimeoutError(TimeoutError):
    """No byte came within the read timeout (the deadline still ahead)."""


@dataclass(slots=True)
class _Exchange:
    """How far one request got: what the failure handling needs to know."""

    deadline: float  # on the loop's clock
    timeout: tuple[float, float]
    scope: asyncio.Timeout
    loop: asyncio.AbstractEventLoop
    sent: bool = False
    by_deadline: bool = True  # whether the scope's current expiry is the deadline itself
    head: h11.Response | None = None
    body: bytearray = field(default_factory=bytearray)

    def expire_within(self, seconds: float) -> None:
        """Let the next step take ``seconds`` at most, never past the deadline."""
        when = self.loop.time() + seconds
        self.by_deadline = when >= self.deadline
        self.scope.reschedule(self.deadline if self.by_deadline else when)

    def waiting_for_bytes(self) -> None:
        """Each wait for the receiver's bytes: the read timeout, within the deadline."""
        self.expire_within(self.timeout[1])


class AsyncClient:
    """Pooled keep-alive connections for one event loop; every request guarded as
    transport.post is."""

    def __init__(self, *, allowed_networks: Iterable[str] = (), pool_size: int = 32) -> None:
        self._allowed = parse_networks(allowed_networks)
        self._pool_size = pool_size
        self._idle: dict[PoolKey, list[Connection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: tuple[float, float],
        deadline: float | None = None,
        max_body: int = 20_480,
    ) -> Response:
        """POST ``body`` to ``url``, never following redirects; errors become a Response.

        The whole request ends by ``deadline`` (a ``time.monotonic()`` value;
        default: now + connect + read). Cancelling the call closes its connection.
        """
        started = time.monotonic()
        deadline = started + sum(timeout) if deadline is None else deadline

        def failed(kind: str, error: str) -> Response:
            return Response(None, "", {}, ms_since(started), kind, error)

        try:
            target, request_target, host = _read_url(url)
        except UnsafeURL as exc:
            return failed(ErrorKind.INVALID_URL, str(exc))
        try:
            request = _request(request_target, host, headers, body)
        except UnicodeEncodeError:
            return failed(ErrorKind.INVALID_HEADER, UNENCODABLE_HEADER)
        except h11.LocalProtocolError:  # its message quotes the value: not for the Attempt
            return failed(ErrorKind.INVALID_HEADER, ILLEGAL_HEADER)
        if started >= deadline:  # e.g. the loop was stalled between the claim and now
            return failed(ErrorKind.NOT_SENT, NOT_SENT)
        loop = self._bind_loop()
        connection: Connection | None = None
        exchange: _Exchange | None = None
        try:
            # On the loop's clock, which need not be time.monotonic().
            async with asyncio.timeout_at(loop.time() + deadline - time.monotonic()) as scope:
                exchange = _Exchange(scope.when() or 0.0, timeout, scope, loop)
                connection = await self._connection(target, exchange, loop)
                if time.monotonic() >= deadline:
                    raise _NotSent
                connection.send(request, h11.Data(data=body), h11.EndOfMessage())
                exchange.sent = True
                await _read(connection, exchange, max_body)
        except _NotSent:
            return failed(ErrorKind.NOT_SENT, NOT_SENT)
        except (TimeoutError, *_FAILURES) as exc:
            assert exchange is not None
            if exchange.head is not None:  # a status arrived: it stands, the body broke
                return _answer(exchange, started, _body_problem(exc, exchange))
            return failed(*_failure(exc, exchange, url))
        finally:
            if connection is not None:
                self._release(target, connection)
        return _answer(exchange, started, "")

    async def aclose(self) -> None:
        """Close the idle connections; connections in use close when their request ends
        (a post after this one still works, on a connection closed after it)."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()
        await asyncio.sleep(0)  # let the transports finish closing

    # -- connections ------------------------------------------------------------------------

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("An AsyncClient serves the event loop it was first used on")
        return loop

    async def _connection(
        self, target: Target, exchange: _Exchange, loop: asyncio.AbstractEventLoop
    ) -> Connection:
        """A kept-alive connection to the target, or a new one, guarded."""
        idle = self._idle.get((target.scheme, target.host, target.port))
        while idle:
            connection = idle.pop()
            if not connection.broken:
                connection.idle = False
                return connection
            connection.close()
        exchange.expire_within(exchange.timeout[0])
        return await self._connect(target, loop)

    async def _connect(self, target: Target, loop: asyncio.AbstractEventLoop) -> Connection:
        if target.address is not None:  # a literal address: classified without resolving
            address = resolve_allowed_literal(target, self._allowed)
        else:
            address = await loop.run_in_executor(
                None, resolve_allowed, target.host, target.port, self._allowed
            )
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, (address, target.port))
            peer = sock.getpeername()[0]
            if not is_allowed_address(peer, self._allowed):
                raise BlockedAddress(f"Connected to {peer}, which deliveries may not reach")
            tls = target.scheme == "https"
            _, connection = await loop.create_connection(
                Connection,
                sock=sock,
                ssl=self._tls_context() if tls else None,
                server_hostname=target.host if tls else None,
            )
        except BaseException:
            sock.close()
            raise
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            # Certificates verified against the system's trust store and the URL's host.
            self._tls = ssl.create_default_context()
        return self._tls

    def _release(self, target: Target, connection: Connection) -> None:
        """Back to the pool if it may serve another request and there is room; else closed."""
        idle = self._idle.setdefault((target.scheme, target.host, target.port), [])
        if not self._closed and len(idle) < self._pool_size and connection.reusable():
            connection.idle = True
            idle.append(connection)
        else:
            connection.close()


async def _read(connection: Connection, exchange: _Exchange, limit: int) -> None:
    """Read the head, then at most ``limit`` decoded body bytes, into ``exchange``."""
    while exchange.head is None:
        event = await connection.next_event(exchange.waiting_for_bytes)
        if isinstance(event, h11.Response):
            exchange.head = event
        elif not isinstance(event, h11.InformationalResponse):  # 1xx: the answer follows
            raise ConnectionLost("Remote end closed connection without response")
    decoder = Decoder(_header(exchange.head, b"content-encoding"))
    body = exchange.body
    while len(body) < limit:
        event = await connection.next_event(exchange.waiting_for_bytes)
        if isinstance(event, h11.Data):
            body += decoder.decode(event.data, limit - len(body))
        elif isinstance(event, h11.EndOfMessage):
            while decoder.pending and len(body) < limit:
                body += decoder.decode(b"", limit - len(body))
            return
        else:
            raise ConnectionLost("Remote end closed connection mid-body")


def resolve_allowed_literal(target: Target, allowed: tuple[Network, ...]) -> str:
    """A literal address's own check: the same answer and message as resolving it."""
    family = socket.AF_INET6 if ":" in target.host else socket.AF_INET
    info = [(family, socket.SOCK_STREAM, 6, "", (target.host, target.port))]
    return addresses.resolve_allowed(
        target.host, target.port, allowed, resolver=lambda *_a, **_k: info
    )


def _request(target: str, host: str, headers: Mapping[str, str], body: bytes) -> h11.Request:
    """The request's head; raises UnicodeEncodeError or h11.LocalProtocolError for a header."""
    fields = [
        (b"Host", host.encode("ascii")),
        (b"Accept-Encoding", b"identity"),
        (b"Content-Length", str(len(body)).encode("ascii")),
    ]
    fields += [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in headers.items()
        if name.lower() not in _FRAMING
    ]
    return h11.Request(method="POST", target=target.encode("ascii"), headers=fields)


def _header(head: h11.Response, name: bytes) -> str | None:
    values = [value for key, value in head.headers if key == name]
    return b", ".join(values).decode("latin-1") if values else None


def _answer(exchange: _Exchange | None, started: float, problem: str) -> Response:
    """A Response with the status that arrived, the capped body and what went wrong, if."""
    assert exchange is not None and exchange.head is not None
    headers = HTTPHeaderDict()
    for name, value in exchange.head.headers.raw_items():
        headers.add(name.decode("latin-1"), value.decode("latin-1"))
    text = bytes(exchange.body).decode(charset(headers.get("Content-Type")), errors="replace")
    return Response(
        exchange.head.status_code,
        text,
        headers,
        ms_since(started),
        ErrorKind.RESPONSE_BODY if problem else "",
        problem[:1000],
    )


def _body_problem(exc: BaseException, exchange: _Exchange) -> str:
    """Why the body of an answer whose status arrived could not be read whole."""
    if not exchange.scope.expired():
        return body_problem(exc)
    return BODY_LATE if exchange.by_deadline else body_problem(_read_timeout(exchange))


def _read_timeout(exchange: _Exchange) -> TimeoutError:
    return ReadTimeoutError(f"Read timed out. (read timeout={exchange.timeout[1]})")


def _failure(exc: BaseException, exchange: _Exchange, url: str) -> tuple[str, str]:
    """The error kind and text of a request that got no status."""
    if exchange.scope.expired():
        if exchange.by_deadline:  # nothing sent yet: then nothing is sent at all
            return (
                (ErrorKind.TIMEOUT, NO_ANSWER) if exchange.sent else (ErrorKind.NOT_SENT, NOT_SENT)
            )
        if not exchange.sent:
            return ErrorKind.TIMEOUT, describe(_connect_timeout(exchange), url)
        return ErrorKind.TIMEOUT, describe(_read_timeout(exchange), url)
    if isinstance(exc, BlockedAddress):
        return ErrorKind.BLOCKED, str(exc)
    if isinstance(exc, TimeoutError):
        return ErrorKind.TIMEOUT, describe(exc, url)
    return ErrorKind.CONNECTION, describe(exc, url)


def _connect_timeout(exchange: _Exchange) -> TimeoutError:
    return ConnectTimeoutError(f"Connecting timed out. (connect timeout={exchange.timeout[0]})")
