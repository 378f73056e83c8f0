"""The senders measured by ``benchmarks/senders.py``: threads or asyncio, six HTTP clients.

Contenders 1 and 2 are threads (our transport, requests); 3 to 5 are asyncio
(aiohttp, a minimal client without and with guard and deadline); 6 is client 5
on one event-loop thread fed by the engine's synchronous window; 7 and 8 are our
asynchronous transport with every guarantee of ``transport.post``, on h11 (the
package's ``AsyncClient``) and on aiohttp (``aiohttp_client``, benchmark-only).

Every contender does the same per request, inside the measured time: sign the
body (Standard Webhooks headers, :func:`webhooks_app.signing.sign`, as the
engine does on each try), POST it over a keep-alive connection, read the
answer, count its status. And every one keeps ``concurrency`` requests in
flight the way the engine does: a sliding window of futures (threads) or tasks
(asyncio), topped up as soon as any finishes.

Each is imported lazily, so a run loads only its own client.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import partial
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

from webhooks_app import __version__, signing

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # benchmark-only, not a secret
Job = tuple[str, bytes]  # (webhook-id, body)


def signed_headers(msg_id: str, body: bytes, user_agent: str) -> dict[str, str]:
    """The headers of one try: what ``attempt.request_headers`` sends for one secret."""
    timestamp = int(time.time())
    return {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.sign(SECRET, msg_id, timestamp, body),
    }


def outcome(finished: Future[str] | asyncio.Task[str]) -> str:
    """A finished request's status, or its exception's name and message."""
    try:
        return finished.result()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]


class Contender:
    """One way of sending: ``open`` once, ``send_all`` (warm-up, then the measured batch)."""

    name = ""
    label = ""
    user_agent = f"webhooks_app/{__version__}"  # attempt.user_agent()'s default

    def open(self, url: str, concurrency: int) -> None:
        self.url = url
        self.concurrency = concurrency

    def send_all(self, jobs: Iterable[Job]) -> Counter[str]:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release by default."""


# -- threads -------------------------------------------------------------------------------


def sync_window(
    submit: Callable[[Job], Future[str]], jobs: Iterable[Job], concurrency: int
) -> Counter[str]:
    """The engine's loop without the database: submit, wait for any, top up."""
    pending = iter(jobs)
    statuses: Counter[str] = Counter()
    in_flight = {submit(job) for job in islice(pending, concurrency)}
    while in_flight:
        done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in done:
            statuses[outcome(future)] += 1
        in_flight |= {submit(job) for job in islice(pending, len(done))}
    return statuses


class ThreadsContender(Contender):
    """A ThreadPoolExecutor of ``concurrency`` threads, each sending one request at a time."""

    def open(self, url: str, concurrency: int) -> None:
        super().open(url, concurrency)
        self.executor = ThreadPoolExecutor(concurrency, thread_name_prefix="bench-send")

    def send_one(self, job: Job) -> str:
        raise NotImplementedError

    def send_all(self, jobs: Iterable[Job]) -> Counter[str]:
        return sync_window(partial(self.executor.submit, self.send_one), jobs, self.concurrency)

    def close(self) -> None:
        self.executor.shutdown()


class OurTransport(ThreadsContender):
    """``webhooks_app.transport.post`` with the arguments ``attempt._send`` gives it."""

    name = "threads-transport"
    label = "1. threads + webhooks_app.transport (ours)"

    def open(self, url: str, concurrency: int) -> None:
        from webhooks_app import conf, transport

        super().open(url, concurrency)
        self.conf, self.post = conf, transport.post

    def send_one(self, job: Job) -> str:
        conf = self.conf
        msg_id, body = job
        timeout = conf.timeouts()
        response = self.post(
            self.url,
            body,
            signed_headers(msg_id, body, self.user_agent),
            timeout=timeout,
            allowed_networks=conf.get("ALLOWED_NETWORKS"),
            max_body=conf.get("MAX_RESPONSE_BODY"),
            # The claim's deadline: the lease starts with it, connect + read from now.
            deadline=time.monotonic() + sum(timeout),
            pool_size=conf.get("SEND_CONCURRENCY"),
        )
        return str(response.status_code or response.error_kind)


class RequestsSession(ThreadsContender):
    """One shared ``requests.Session``: what many projects do (pool sized to the threads)."""

    name = "threads-requests"
    label = "2. threads + requests.Session"

    def open(self, url: str, concurrency: int) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        super().open(url, concurrency)
        self.session = requests.Session()
        # Its default pool keeps 10 connections: at 32 threads it would open and drop
        # connections, which is not what keep-alive means here.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=concurrency, max_retries=0)
        self.session.mount("http://", adapter)

    def send_one(self, job: Job) -> str:
        msg_id, body = job
        response = self.session.post(
            self.url,
            data=body,
            headers=signed_headers(msg_id, body, self.user_agent),
            timeout=(5, 15),
            allow_redirects=False,
        )
        response.content  # noqa: B018 - read the body whole
        return str(response.status_code)

    def close(self) -> None:
        super().close()
        self.session.close()


# -- asyncio -------------------------------------------------------------------------------


class AsyncioContender(Contender):
    """One event loop for the whole run (so warm-up connections stay open for the batch)."""

    def open(self, url: str, concurrency: int) -> None:
        super().open(url, concurrency)
        self.runner = asyncio.Runner()
        self.runner.run(self.setup())

    async def setup(self) -> None:
        """Create the client inside the loop."""

    async def send_one(self, job: Job) -> str:
        raise NotImplementedError

    def send_all(self, jobs: Iterable[Job]) -> Counter[str]:
        return self.runner.run(self._window(iter(jobs)))

    async def _window(self, pending: Iterator[Job]) -> Counter[str]:
        """The same sliding window on tasks: wait for any, top up."""
        statuses: Counter[str] = Counter()
        spawn: Callable[[Coroutine[Any, Any, str]], asyncio.Task[str]] = asyncio.create_task
        in_flight = {spawn(self.send_one(job)) for job in islice(pending, self.concurrency)}
        while in_flight:
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                statuses[outcome(task)] += 1
            in_flight |= {spawn(self.send_one(job)) for job in islice(pending, len(done))}
        return statuses

    async def teardown(self) -> None:
        """Release the client inside the loop."""

    def close(self) -> None:
        self.runner.run(self.teardown())
        self.runner.close()


class Aiohttp(AsyncioContender):
    """``aiohttp.ClientSession``, ``TCPConnector(limit=concurrency)``, the same timeouts."""

    name = "asyncio-aiohttp"
    label = "3. asyncio + aiohttp"

    async def setup(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.concurrency),
            # total is one overall deadline per request, as ours has.
            timeout=aiohttp.ClientTimeout(total=20, connect=5, sock_read=15),
        )

    async def send_one(self, job: Job) -> str:
        msg_id, body = job
        async with self.session.post(
            self.url,
            data=body,
            headers=signed_headers(msg_id, body, self.user_agent),
            allow_redirects=False,
        ) as response:
            await response.read()
            return str(response.status)

    async def teardown(self) -> None:
        await self.session.close()


class Streams(AsyncioContender):
    """The minimal hand-written client (benchmark-only): the floor of asyncio's cost."""

    name = "asyncio-streams"
    label = "4. asyncio + minimal client on streams (no guard, no deadline)"
    guarded = False

    async def setup(self) -> None:
        from benchmarks.senders_support.streams_client import StreamsClient

        parts = urlsplit(self.url)
        self.path = parts.path
        self.client = StreamsClient(
            parts.hostname or "", parts.port or 80, guarded=self.guarded,
            allowed_networks=["127.0.0.0/8"],
        )  # fmt: skip

    async def send_one(self, job: Job) -> str:
        msg_id, body = job
        deadline = time.monotonic() + 20 if self.guarded else None
        headers = signed_headers(msg_id, body, self.user_agent)
        return str(await self.client.post(self.path, body, headers, deadline))

    async def teardown(self) -> None:
        self.client.close()


class GuardedStreams(Streams):
    """The same client plus a connect-time SSRF guard and a per-request deadline: the least
    an asyncio rewrite of our transport would have to do."""

    name = "asyncio-streams-guarded"
    label = "5. asyncio + minimal client + SSRF guard + deadline"
    guarded = True


class Bridged(Contender):
    """The shape asyncio would take in our engine, whose loop and database work stay
    synchronous: the calling thread keeps its window of ``concurrent.futures`` futures and
    hands each request to one event-loop thread (``run_coroutine_threadsafe``), which sends
    it with the guarded minimal client. The difference from 5 is the bridge's cost."""

    name = "asyncio-bridged"
    label = "6. engine's sync loop + one asyncio thread (client of 5)"

    def open(self, url: str, concurrency: int) -> None:
        super().open(url, concurrency)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-loop")
        self.thread.start()
        self.client = GuardedStreams()
        self.client.url, self.client.concurrency = url, concurrency
        asyncio.run_coroutine_threadsafe(self.client.setup(), self.loop).result()

    def submit(self, job: Job) -> Future[str]:
        return asyncio.run_coroutine_threadsafe(self.client.send_one(job), self.loop)

    def send_all(self, jobs: Iterable[Job]) -> Counter[str]:
        return sync_window(self.submit, jobs, self.concurrency)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.client.teardown(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class OurAsyncClient(AsyncioContender):
    """``webhooks_app.transport.AsyncClient`` (h11 on asyncio) with the arguments the
    engine gives ``transport.post``: guard, deadline, capped read, pool."""

    name = "asyncio-ours-h11"
    label = "7. asyncio + webhooks_app.transport.AsyncClient (h11)"

    def make_client(self, allowed_networks: list[str], pool_size: int) -> Any:
        from webhooks_app.transport import AsyncClient

        return AsyncClient(allowed_networks=allowed_networks, pool_size=pool_size)

    async def setup(self) -> None:
        from webhooks_app import conf

        self.conf = conf
        self.client = self.make_client(conf.get("ALLOWED_NETWORKS"), conf.get("SEND_CONCURRENCY"))

    async def send_one(self, job: Job) -> str:
        conf = self.conf
        msg_id, body = job
        timeout = conf.timeouts()
        response = await self.client.post(
            self.url,
            body,
            signed_headers(msg_id, body, self.user_agent),
            timeout=timeout,
            deadline=time.monotonic() + sum(timeout),
            max_body=conf.get("MAX_RESPONSE_BODY"),
        )
        return str(response.status_code or response.error_kind)

    async def teardown(self) -> None:
        await self.client.aclose()


class OurAiohttpClient(OurAsyncClient):
    """The same transport on aiohttp (``benchmarks/senders_support/aiohttp_client.py``)."""

    name = "asyncio-ours-aiohttp"
    label = "8. asyncio + our transport on aiohttp (benchmark-only)"

    def make_client(self, allowed_networks: list[str], pool_size: int) -> Any:
        from benchmarks.senders_support.aiohttp_client import AiohttpClient

        return AiohttpClient(allowed_networks=allowed_networks, pool_size=pool_size)


CONTENDERS: dict[str, type[Contender]] = {
    cls.name: cls
    for cls in (
        OurTransport,
        RequestsSession,
        Aiohttp,
        Streams,
        GuardedStreams,
        Bridged,
        OurAsyncClient,
        OurAiohttpClient,
    )
}
BASELINE = OurTransport.name
