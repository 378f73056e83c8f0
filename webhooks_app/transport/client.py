"""HTTP transport for deliveries: pooled urllib3 connections, an SSRF guard, capped reads.

No models here. The guard works at connection time, for every new connection
of the pool: the host is resolved, every address is classified, and the socket
is connected to the very address that was checked (then its peer address is
checked once more), so a DNS answer that changes between a check and the
connect cannot slip through. Kept-alive connections were checked when opened.

urllib3 is used directly, not through requests: requests costs about a third
more CPU per POST and reads proxy settings from the environment on each call
(a proxy would also bypass the guard). Each request ends by one overall
deadline (see :mod:`webhooks_app.transport.deadline`). For an event loop,
:class:`~webhooks_app.transport.async_client.AsyncClient` gives the same guarantees
and the same answers; tests/transport/ runs every test with both.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from http.client import HTTPException
from typing import TYPE_CHECKING

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationValueError,
    NewConnectionError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from webhooks_app.retry import ErrorKind
from webhooks_app.transport import addresses
from webhooks_app.transport.addresses import (
    BlockedAddress,
    Network,
    UnsafeURL,
    is_allowed_address,
    parse_networks,
    parse_target,
)
from webhooks_app.transport.deadline import Ticket, watchdog
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


def resolve_allowed(
    host: str, port: int, allowed: Iterable[Network] = (), resolver=socket.getaddrinfo
) -> str:
    """Resolve ``host`` and return an address to connect to, or raise BlockedAddress."""
    return addresses.resolve_allowed(host, port, allowed, resolver=resolver)


# Control characters other than tab: http.client lets NUL and others through, and quotes
# the value of a header with CR or LF in its error. h11 (AsyncClient) refuses the same.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

_request = threading.local()  # the deadline of the request this thread is sending


class DeadlinePassed(Urllib3Timeout):
    """The request's deadline was over before a byte of it was sent."""


if TYPE_CHECKING:  # mixed into urllib3's HTTPConnection and HTTPSConnection
    from urllib3.connection import HTTPConnection as _ConnectionBase
else:
    _ConnectionBase = object


def _check_deadline() -> None:
    deadline = getattr(_request, "deadline", None)
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlinePassed("The request's deadline passed before it was sent")


class _GuardedConnectionMixin(_ConnectionBase):
    allowed_networks: tuple[Network, ...] = ()

    def _new_conn(self) -> socket.socket:
        checked = resolve_allowed(self._dns_host, self.port, self.allowed_networks)
        original, self._dns_host = self._dns_host, checked
        timeout, deadline = self.timeout, getattr(_request, "deadline", None)
        if deadline is not None and isinstance(timeout, int | float):
            # Connecting ends by the deadline too, when less of it is left than the timeout.
            self.timeout = max(min(timeout, deadline - time.monotonic()), 0.001)
        try:
            sock = super()._new_conn()
        except ConnectTimeoutError:
            _check_deadline()  # the deadline ended it, not the connect timeout: not sent
            raise
        finally:
            self._dns_host, self.timeout = original, timeout
        peer = sock.getpeername()[0]
        if not is_allowed_address(peer, self.allowed_networks):
            sock.close()
            raise BlockedAddress(f"Connected to {peer}, which deliveries may not reach")
        return sock

    # A request sent past its deadline could still be running when its lease expires
    # and another worker sends the same delivery: connecting may have used up the time,
    # or the process was stopped since the claim. So the head and the body go out in
    # one write, after one last look at the deadline: a request is sent whole or not
    # at all (and a receiver wakes once per request, not twice).
    _head: bytes | None = None
    _holding_head = False

    def request(self, method, url, body=None, headers=None, **kwargs) -> None:
        self._holding_head, self._head = bool(body), None
        try:
            super().request(method, url, body=body, headers=headers, **kwargs)
        finally:
            self._holding_head, self._head = False, None

    def send(self, data) -> None:
        if self._holding_head:  # the head: it waits for the body
            self._head, self._holding_head = bytes(data), False
            return
        _check_deadline()
        if self._head is not None:
            data, self._head = self._head + bytes(data), None
        super().send(data)

    def connect(self) -> None:
        super().connect()
        _check_deadline()

    def getresponse(self, *args, **kwargs):
        # From here on the receiver controls the pace: put the socket under the
        # request's overall deadline until post() is done with the response.
        deadline = getattr(_request, "deadline", None)
        if deadline is not None and self.sock is not None:
            _request.ticket = watchdog.watch(deadline, self.sock)
        return super().getresponse(*args, **kwargs)


def _pool_classes(networks: tuple[Network, ...]) -> dict[str, type]:
    class Conn(_GuardedConnectionMixin, HTTPConnection):
        allowed_networks = networks

    class TLSConn(_GuardedConnectionMixin, HTTPSConnection):
        allowed_networks = networks

    class Pool(HTTPConnectionPool):
        ConnectionCls = Conn

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConn

    return {"http": Pool, "https": TLSPool}


@lru_cache(maxsize=8)
def _pool_manager(pid: int, allowed_networks: tuple[str, ...], maxsize: int) -> urllib3.PoolManager:
    manager = urllib3.PoolManager(num_pools=100, maxsize=maxsize, block=False, retries=False)
    manager.pool_classes_by_scheme = _pool_classes(parse_networks(allowed_networks))
    return manager


def get_pool_manager(
    allowed_networks: Iterable[str] = (), maxsize: int = 32
) -> urllib3.PoolManager:
    """The connection pools of this process (a forked worker gets its own).

    ``maxsize`` keep-alive connections are kept per host: as many as one
    process sends at once, so none is opened only to be thrown away.
    """
    return _pool_manager(os.getpid(), tuple(allowed_networks), maxsize)


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: tuple[float, float],
    allowed_networks: Iterable[str] = (),
    max_body: int = 20_480,
    deadline: float | None = None,
    pool_size: int = 32,
) -> Response:
    """POST ``body`` to ``url``, never following redirects; errors become a Response.

    The whole request (connect, headers and the capped body read) ends by
    ``deadline`` (a ``time.monotonic()`` value; default: now + connect + read).
    """
    started = time.monotonic()
    deadline = started + sum(timeout) if deadline is None else deadline

    def failed(kind: str, error: str) -> Response:
        return Response(None, "", {}, ms_since(started), kind, error)

    try:
        parse_target(url)  # read as the endpoint checks read it; refused if ambiguous
    except UnsafeURL as exc:
        return failed(ErrorKind.INVALID_URL, str(exc))
    if any(_CONTROL.search(f"{name}{value}") for name, value in headers.items()):
        return failed(ErrorKind.INVALID_HEADER, ILLEGAL_HEADER)
    if started >= deadline:  # e.g. the worker was stopped between the claim and now
        return failed(ErrorKind.NOT_SENT, NOT_SENT)
    _request.deadline, _request.ticket = deadline, None
    try:
        response = get_pool_manager(allowed_networks, pool_size).urlopen(
            "POST",
            url,
            body=body,
            headers=dict(headers),
            timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
    except (HTTPError, HTTPException, OSError, ValueError, BlockedAddress) as exc:
        return failed(*_failure(exc, url, expired=_end_watch()))
    finally:
        _request.deadline = None
    if _cut_off():
        # The deadline shut the socket mid-head: http.client may take what came
        # as a complete head, so no status that arrived this way is trusted.
        response.close()
        response.release_conn()
        _end_watch()
        return failed(ErrorKind.TIMEOUT, NO_ANSWER)
    try:
        data, problem = _read_capped(response, max_body)
    finally:
        expired = _end_watch()  # before the connection can serve another request
        if not response.closed:
            response.close()  # a half-read answer must not meet the next request
        response.release_conn()
    if problem and expired:
        problem = BODY_LATE
    text = data.decode(charset(response.headers.get("Content-Type")), errors="replace")
    return Response(
        response.status,
        text,
        response.headers,
        ms_since(started),
        ErrorKind.RESPONSE_BODY if problem else "",
        problem[:1000],
    )


def _read_capped(response: urllib3.BaseHTTPResponse, limit: int) -> tuple[bytes, str]:
    """At most ``limit`` bytes of the (decoded) body, and what went wrong reading it, or "".

    What arrived before a failure is kept: it often says what went wrong.
    """
    data = bytearray()
    try:
        while len(data) < limit:
            chunk = response.read1(min(65_536, limit - len(data)), decode_content=True)
            if not chunk:
                break
            data += chunk
    except (HTTPError, HTTPException, OSError, ValueError, LookupError) as exc:
        return bytes(data), body_problem(exc)
    return bytes(data), ""


def _failure(exc: Exception, url: str, *, expired: bool) -> tuple[str, str]:
    """The error kind and text of a request that got no answer."""
    if isinstance(exc, BlockedAddress):
        return ErrorKind.BLOCKED, str(exc)
    if isinstance(exc, DeadlinePassed):
        return ErrorKind.NOT_SENT, NOT_SENT
    if expired:
        return ErrorKind.TIMEOUT, NO_ANSWER
    if isinstance(exc, NewConnectionError):  # a subclass of urllib3's timeout error
        return ErrorKind.CONNECTION, describe(exc, url)
    if isinstance(exc, Urllib3Timeout | TimeoutError):
        return ErrorKind.TIMEOUT, describe(exc, url)
    if isinstance(exc, UnicodeEncodeError):
        return ErrorKind.INVALID_HEADER, UNENCODABLE_HEADER
    if isinstance(exc, LocationValueError | ValueError):
        return ErrorKind.INVALID_URL, describe(exc, url)
    return ErrorKind.CONNECTION, describe(exc, url)


def _cut_off() -> bool:
    ticket: Ticket | None = getattr(_request, "ticket", None)
    return ticket is not None and ticket.expired


def _end_watch() -> bool:
    """Stop watching this thread's request; whether its deadline had cut it off."""
    ticket: Ticket | None = getattr(_request, "ticket", None)
    if ticket is None:
        return False
    watchdog.release(ticket)
    _request.ticket = None
    return ticket.expired
