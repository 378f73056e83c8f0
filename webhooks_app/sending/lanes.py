"""The sending side of the engine: one event loop per process, one lane per owned endpoint.

The engine's run (:mod:`webhooks_app.sending.engine`) does every database
query on its own thread; this module never touches the database. It hands
each lane the deliveries it leased ahead for that endpoint, and the lane keeps
``allowed`` requests on the wire, starting the next one from its queue the
moment one ends: a freed slot waits for no database round trip. Finished tries
(and leased deliveries given back unsent) flow back to the run through one
thread-safe queue, which the run records in bulk in the background of the
sends.

A lane keeps in memory what only an owner can keep: the endpoint's in-flight
cap, its rate limit (request starts spaced by ``1 / rate_limit`` seconds), and
the process-wide ``SEND_CONCURRENCY``. A delivery whose lease would not cover
a request any more is given back unsent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from webhooks_app import conf, transport
from webhooks_app.models import Delivery, Endpoint
from webhooks_app.sending import attempt
from webhooks_app.sending.due import allowed_in_flight
from webhooks_app.sending.results import Result

logger = logging.getLogger(__name__)

MIN_REQUEST_SECONDS = 1.0
"""A queued delivery whose lease leaves less than this for its request is given back."""


@dataclass(frozen=True)
class Unsent:
    """A leased delivery given back without a try (its lease ran short, or its lane
    stopped)."""

    delivery: Delivery


Finished = Result | Unsent


Sink = queue.SimpleQueue[Finished]
"""Where a run's lanes put what finished: one per run, read by that run's thread."""


@dataclass
class Lane:
    """One owned endpoint's queue and requests in flight (event loop thread only)."""

    endpoint: Endpoint
    sink: Sink
    queue: deque[Delivery] = field(default_factory=deque)
    in_flight: int = 0
    next_start: float = 0.0
    wake: asyncio.TimerHandle | None = None
    stopped: bool = False  # its run gave it up: forgotten once its requests are done

    @property
    def allowed(self) -> int:
        return allowed_in_flight(self.endpoint, conf.get("MAX_IN_FLIGHT_PER_ENDPOINT"))


class SendLoop:
    """An event loop on its own thread, with the lanes of the engine's current run."""

    def __init__(self) -> None:
        self._lanes: dict[tuple[int, int], Lane] = {}
        self._in_flight = 0
        self._clients: dict[tuple, transport.AsyncClient] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="webhooks-send-loop", daemon=True
        )
        self._thread.start()

    # Called from the run's thread.

    def assign(self, sink: Sink, endpoint: Endpoint, items: list[Delivery]) -> None:
        """Queue these leased deliveries on ``endpoint``'s lane (made if new); what
        finishes goes to ``sink``."""
        self._loop.call_soon_threadsafe(self._assign, sink, endpoint, items)

    def update(self, sink: Sink, endpoint: Endpoint) -> None:
        """The endpoint's row as just read: its settings and health apply from now on."""
        self._loop.call_soon_threadsafe(self._update, sink, endpoint)

    def stop(self, sink: Sink, endpoint_ids: Iterable[int]) -> None:
        """Give back these lanes' queued deliveries; requests in flight finish, then the
        lanes are forgotten (until they are assigned deliveries again)."""
        self._loop.call_soon_threadsafe(self._stop, sink, list(endpoint_ids))

    # On the loop's thread.

    def _assign(self, sink: Sink, endpoint: Endpoint, items: list[Delivery]) -> None:
        lane = self._lanes.get((id(sink), endpoint.pk))
        if lane is None:
            lane = self._lanes[id(sink), endpoint.pk] = Lane(endpoint, sink)
        else:
            lane.endpoint, lane.stopped = endpoint, False
        for item in items:
            item.endpoint = endpoint
        lane.queue.extend(items)
        self._pump_all()

    def _update(self, sink: Sink, endpoint: Endpoint) -> None:
        lane = self._lanes.get((id(sink), endpoint.pk))
        if lane is None:
            return
        lane.endpoint = endpoint
        for item in lane.queue:
            item.endpoint = endpoint
        self._pump_all()

    def _stop(self, sink: Sink, endpoint_ids: list[int]) -> None:
        for pk in endpoint_ids:
            lane = self._lanes.get((id(sink), pk))
            if lane is None:
                continue
            while lane.queue:
                sink.put(Unsent(lane.queue.popleft()))
            lane.stopped = True
            self._forget_if_idle(lane)

    def _forget_if_idle(self, lane: Lane) -> None:
        key = (id(lane.sink), lane.endpoint.pk)
        idle = lane.stopped and not lane.queue and not lane.in_flight
        if idle and self._lanes.get(key) is lane:
            if lane.wake is not None:
                lane.wake.cancel()
            del self._lanes[key]

    def _pump_all(self) -> None:
        for lane in list(self._lanes.values()):
            self._pump(lane)

    def _pump(self, lane: Lane) -> None:
        """Start as many of the lane's queued deliveries as its slots and rate allow."""
        concurrency = conf.get("SEND_CONCURRENCY")
        allowed = lane.allowed
        while lane.queue and lane.in_flight < allowed and self._in_flight < concurrency:
            now = time.monotonic()
            item = lane.queue[0]
            if (item.deadline or 0) - now < MIN_REQUEST_SECONDS:
                lane.sink.put(Unsent(lane.queue.popleft()))
                continue
            if lane.next_start > now:
                if lane.wake is None:
                    lane.wake = self._loop.call_at(lane.next_start, self._rewake, lane)
                break
            lane.queue.popleft()
            if lane.endpoint.rate_limit:
                lane.next_start = max(now, lane.next_start) + 1 / lane.endpoint.rate_limit
            lane.in_flight += 1
            self._in_flight += 1
            self._loop.create_task(self._send(lane, item))
        self._forget_if_idle(lane)

    def _rewake(self, lane: Lane) -> None:
        lane.wake = None
        self._pump(lane)

    async def _send(self, lane: Lane, item: Delivery) -> None:
        try:
            result = await attempt.send_async(item, self._client())
        finally:
            lane.in_flight -= 1
            self._in_flight -= 1
        lane.sink.put(result)
        self._pump(lane)
        if self._in_flight < conf.get("SEND_CONCURRENCY"):
            self._pump_all()

    def _client(self) -> transport.AsyncClient:
        """The client for the current settings (tests change them between runs)."""
        key = (tuple(conf.get("ALLOWED_NETWORKS")), conf.get("SEND_CONCURRENCY"))
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = transport.AsyncClient(
                allowed_networks=key[0], pool_size=key[1]
            )
        return client


_loops: dict[int, SendLoop] = {}
_lock = threading.Lock()


def send_loop() -> SendLoop:
    """This process's send loop (a forked worker process starts its own)."""
    pid = os.getpid()
    with _lock:
        loop = _loops.get(pid)
        if loop is None:
            _loops.clear()
            loop = _loops[pid] = SendLoop()
        return loop
