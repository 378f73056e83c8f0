"""Both delivery transports behind one signature, so that every guarantee is shown for each.

``post`` is parametrized: ``sync`` is :func:`webhooks_app.transport.post` (a thread,
urllib3); ``async`` is :class:`webhooks_app.transport.AsyncClient` on an event loop
running in another thread, as the engine runs it, called with ``post``'s signature
(one client per set of allowed networks and pool size, closed after the test).
``fake_dns`` routes name resolution of both through a table of loopback answers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

import pytest

from webhooks_app.transport import AsyncClient, Response, async_client, client

T = TypeVar("T")
CLIENTS = ["sync", "async"]


class LoopThread:
    """An event loop running forever in a thread of its own (not the main thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


class AsyncPost:
    """``transport.post``'s signature, sent by an AsyncClient on the loop thread."""

    kind = "async"

    def __init__(self, loop_thread: LoopThread) -> None:
        self.loop_thread = loop_thread
        self.clients: dict[tuple[tuple[str, ...], int], AsyncClient] = {}

    def client(self, allowed_networks: Iterable[str] = (), pool_size: int = 32) -> AsyncClient:
        key = (tuple(allowed_networks), pool_size)
        if key not in self.clients:
            self.clients[key] = AsyncClient(allowed_networks=key[0], pool_size=pool_size)
        return self.clients[key]

    def __call__(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        *,
        timeout: tuple[float, float],
        allowed_networks: Iterable[str] = (),
        max_body: int = 20_480,
        deadline: float | None = None,
        pool_size: int = 32,
    ) -> Response:
        sender = self.client(allowed_networks, pool_size)
        return self.loop_thread.run(
            sender.post(url, body, headers, timeout=timeout, deadline=deadline, max_body=max_body)
        )

    def close(self) -> None:
        for sender in self.clients.values():
            self.loop_thread.run(sender.aclose())


class SyncPost:
    """``transport.post`` itself (looked up at each call, so that patches apply)."""

    kind = "sync"

    def __call__(self, *args: Any, **kwargs: Any) -> Response:
        return client.post(*args, **kwargs)


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.stop()


@pytest.fixture(params=CLIENTS)
def post(request: pytest.FixtureRequest) -> Iterator[Callable[..., Response]]:
    """``transport.post``, or the same request sent by ``AsyncClient.post``."""
    if request.param == "sync":
        yield SyncPost()
        return
    sender = AsyncPost(request.getfixturevalue("loop_thread"))
    yield sender
    sender.close()


def addrinfo(*addresses: str) -> list[tuple]:
    """What socket.getaddrinfo returns for these addresses."""
    infos = []
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if ip.version == 4:
            infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 443)))
        else:
            infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 443, 0, 0)))
    return infos


def fake_resolver(table: dict[str, list[str]]):
    calls = []

    def resolve(host, port, *args, **kwargs):
        calls.append((host, port, kwargs))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return addrinfo(*table[host])

    resolve.calls = calls
    return resolve


class FakeDNS:
    """What the guards resolve (``guard``), what the socket layer resolves (``sockets``),
    and how long each of the guard's lookups takes (``delay``, seconds)."""

    def __init__(self) -> None:
        self.guard: dict[str, list[str]] = {}
        self.sockets: dict[str, list[str]] = {}
        self.delay = 0.0

    def __iter__(self):  # guard_table, socket_table = fake_dns
        return iter((self.guard, self.sockets))


@pytest.fixture
def fake_dns(monkeypatch) -> FakeDNS:
    """Route name resolution through a table; anything else fails without DNS.

    The guards of both clients and the socket layer see only the table, and the
    socket layer never gets anything but loopback addresses.
    """
    dns = FakeDNS()
    real_getaddrinfo = socket.getaddrinfo

    def socket_getaddrinfo(host, port, *args, **kwargs):
        host = host.decode() if isinstance(host, bytes) else host
        if host in dns.sockets:
            host = dns.sockets[host][0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, "fake DNS: unknown name") from None
        if not ip.is_loopback:
            raise AssertionError(f"a test tried to connect to {host}")
        return real_getaddrinfo(host, port, *args, **kwargs)

    real_resolve_allowed = client.addresses.resolve_allowed

    def guarded_resolve(host, port, allowed=(), resolver=None):
        if dns.delay:
            threading.Event().wait(dns.delay)  # as if the lookup (or the worker) stalled
        return real_resolve_allowed(host, port, allowed, resolver=fake_resolver(dns.guard))

    monkeypatch.setattr(socket, "getaddrinfo", socket_getaddrinfo)
    monkeypatch.setattr(client, "resolve_allowed", guarded_resolve)
    monkeypatch.setattr(async_client, "resolve_allowed", guarded_resolve)
    return dns
