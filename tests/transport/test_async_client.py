"""AsyncClient's own parts: the keep-alive pool, concurrency on one loop, cancellation.

What it shares with ``transport.post`` (the guard, the deadline, the capped reads,
the error kinds) is tested for both in test_client.py and test_hostile.py. Here
the client runs on an event loop in another thread, as the engine runs it, and
sends only to servers on 127.0.0.1. A connection is told by the port the server
sees it from (``Received.client_port``).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.conftest import Received, RecordingServer, Reply
from tests.hostile import HostileServer, hung_up
from tests.transport.conftest import LoopThread
from webhooks_app.transport import AsyncClient, Response

ALLOW_LOOPBACK = ["127.0.0.0/8"]
TIMEOUT = (2.0, 3.0)


@pytest.fixture
def client(loop_thread: LoopThread) -> Iterator[AsyncClient]:
    sender = AsyncClient(allowed_networks=ALLOW_LOOPBACK)
    yield sender
    loop_thread.run(sender.aclose())


def send(loop_thread: LoopThread, sender: AsyncClient, url: str, **kwargs) -> Response:
    kwargs.setdefault("timeout", TIMEOUT)
    return loop_thread.run(sender.post(url, b"{}", {}, **kwargs))


def wait_until(check, seconds: float = 3) -> bool:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return check()


def ports(server: RecordingServer) -> list[int]:
    return [request.client_port for request in server.requests]


# --- keep-alive --------------------------------------------------------------------------------


def test_a_kept_alive_connection_serves_the_next_requests(http_server, loop_thread, client):
    for _ in range(3):
        assert send(loop_thread, client, http_server.url()).status_code == 200

    assert len(set(ports(http_server))) == 1, ports(http_server)


def test_a_half_read_answer_closes_its_connection(http_server, loop_thread, client):
    """The rest of a capped body must never be read as the next request's answer."""
    http_server.reply(
        Reply(body=b"x" * 100_000), Reply(status=201, body=b"second"), Reply(body=b"third")
    )

    first = send(loop_thread, client, http_server.url(), max_body=1000)
    second = send(loop_thread, client, http_server.url())
    third = send(loop_thread, client, http_server.url())

    assert (first.status_code, first.body) == (200, "x" * 1000)
    assert (second.status_code, second.body, second.error_kind) == (201, "second", "")
    assert (third.status_code, third.body) == (200, "third")
    one, two, three = ports(http_server)
    assert one != two == three  # closed after the half-read answer; the next one kept


def test_a_body_cut_by_the_read_timeout_closes_its_connection(loop_thread, client):
    server = HostileServer(keep_alive_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"))
    server.start()
    try:
        first = send(loop_thread, client, server.url, timeout=(1, 0.3))
        assert (first.error_kind, first.body) == ("response_body", "short"), first
        assert wait_until(lambda: server.tries[0].ended is not None)  # hung up on at once
    finally:
        server.stop()


def test_idle_connections_are_capped_at_pool_size(http_server, loop_thread):
    sender = AsyncClient(allowed_networks=ALLOW_LOOPBACK, pool_size=2)
    http_server.default = Reply(delay=0.3)

    async def five() -> list[Response]:
        return await asyncio.gather(
            *(sender.post(http_server.url(), b"{}", {}, timeout=TIMEOUT) for _ in range(5))
        )

    try:
        assert [r.status_code for r in loop_thread.run(five())] == [200] * 5
        first = set(ports(http_server))
        assert [r.status_code for r in loop_thread.run(five())] == [200] * 5
        second = set(ports(http_server)[5:])
    finally:
        loop_thread.run(sender.aclose())

    assert len(first) == 5  # five at once: five connections, none waits for another
    assert len(second & first) == 2  # only two were kept idle in between


def test_fifty_concurrent_posts_on_one_loop(http_server, loop_thread, client):
    """50 requests at once on one loop in a non-main thread: each gets its own answer."""

    def respond(item: Received) -> Reply:
        return Reply(body=item.headers["webhook-id"].encode(), delay=0.2)

    http_server.respond = respond

    async def fifty() -> list[Response]:
        return await asyncio.gather(
            *(
                client.post(http_server.url(), b"{}", {"webhook-id": f"msg_{n}"}, timeout=TIMEOUT)
                for n in range(50)
            )
        )

    started = time.monotonic()
    responses = loop_thread.run(fifty())
    elapsed = time.monotonic() - started

    assert [(r.status_code, r.body) for r in responses] == [(200, f"msg_{n}") for n in range(50)]
    assert len(http_server.requests) == 50
    assert http_server.max_in_flight > 10, http_server.max_in_flight
    assert elapsed < 5, elapsed  # one after another would take 10 s


# --- connections the receiver spoils while they are idle --------------------------------------


def keep_alive_reply(data: bytes, then: bytes = b""):
    """A behaviour: answer without closing, maybe write ``then`` later, and wait."""

    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(data)
        if then:
            stop.wait(0.2)
            conn.sendall(then)
        hung_up(conn, stop, 5)

    return behaviour


def port_of(server: HostileServer) -> int:
    return int(server.url.split(":")[2].split("/")[0])


def test_bytes_on_an_idle_connection_disqualify_it(loop_thread, client):
    """A stray answer written on an idle connection is never read as the next one's."""
    server = HostileServer(
        keep_alive_reply(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst",
            then=b"HTTP/1.1 500 Stray\r\nContent-Length: 5\r\n\r\nstray",
        )
    ).start()
    try:
        first = send(loop_thread, client, server.url)
        time.sleep(0.5)  # the stray answer has arrived on the idle connection
        second = send(loop_thread, client, server.url)
    finally:
        server.stop()

    assert (first.status_code, first.body) == (200, "first")
    assert (second.status_code, second.body) == (200, "first"), second  # a new connection's
    assert len(server.tries) == 2


def test_a_connection_the_receiver_closed_is_not_reused(http_server, loop_thread, client):
    http_server.reply(Reply(headers={"Connection": "close"}))

    first = send(loop_thread, client, http_server.url())
    time.sleep(0.2)
    second = send(loop_thread, client, http_server.url())

    assert (first.status_code, second.status_code, second.error_kind) == (200, 200, "")
    assert len(set(ports(http_server))) == 2


def test_aclose_closes_the_idle_connections(loop_thread):
    sender = AsyncClient(allowed_networks=ALLOW_LOOPBACK)
    server = HostileServer(keep_alive_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    server.start()
    try:
        assert send(loop_thread, sender, server.url).status_code == 200
        time.sleep(0.2)
        assert server.tries[0].ended is None  # kept alive
        closed_at = time.monotonic()
        loop_thread.run(sender.aclose())
        assert wait_until(lambda: server.tries[0].ended is not None)
    finally:
        server.stop()

    assert server.tries[0].ended - closed_at < 1


# --- the caller's side -----------------------------------------------------------------------


def test_cancelling_a_post_closes_its_connection(loop_thread, client):
    server = HostileServer(lambda conn, stop: hung_up(conn, stop, 5)).start()

    async def cancelled() -> float:
        task = asyncio.create_task(client.post(server.url, b"{}", {}, timeout=TIMEOUT))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic()

    try:
        at = loop_thread.run(cancelled())
        assert wait_until(lambda: bool(server.tries) and server.tries[0].ended is not None)
    finally:
        server.stop()

    assert server.tries[0].ended - at < 1


def test_one_client_serves_one_event_loop(http_server, loop_thread, client):
    assert send(loop_thread, client, http_server.url()).status_code == 200
    other = LoopThread()
    try:
        with pytest.raises(RuntimeError, match="event loop"):
            other.run(client.post(http_server.url(), b"{}", {}, timeout=TIMEOUT))
    finally:
        other.stop()


def test_the_deadline_is_checked_once_more_right_before_the_write(
    http_server, loop_thread, client, monkeypatch
):
    """On a kept-alive connection nothing awaits between the call and the write; a loop
    stalled there (another task hogging it, a long GC pause) past the deadline must not
    send the request: another worker may hold the delivery's lease by then."""
    assert send(loop_thread, client, http_server.url()).status_code == 200  # the pool is warm
    bind_loop = AsyncClient._bind_loop

    def stalled(self):
        time.sleep(0.3)
        return bind_loop(self)

    monkeypatch.setattr(AsyncClient, "_bind_loop", stalled)
    late = send(loop_thread, client, http_server.url("/late"), deadline=time.monotonic() + 0.1)

    assert late.error_kind == "not_sent", late
    time.sleep(0.2)
    assert [r.path for r in http_server.requests] == ["/hook"]


def test_a_post_after_aclose_keeps_no_connection(loop_thread):
    sender = AsyncClient(allowed_networks=ALLOW_LOOPBACK)
    server = HostileServer(keep_alive_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    server.start()
    try:
        loop_thread.run(sender.aclose())
        assert send(loop_thread, sender, server.url).status_code == 200
        assert wait_until(lambda: server.tries[0].ended is not None)  # not kept alive
    finally:
        server.stop()
