"""One overall deadline per request, enforced on the socket.

Socket timeouts bound each read, not a whole response: a receiver that drips
its headers one byte a second never trips a read timeout. A single watchdog
thread per process keeps a heap of deadlines and shuts down the socket of any
request still running at its deadline, which makes the blocked read in the
sending thread return at once. No models and no HTTP library in here.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass(order=True)
class Ticket:
    """One watched socket; ``expired`` tells the sender why its read ended."""

    deadline: float
    sequence: int
    sock: socket.socket | None = field(compare=False, default=None)
    active: bool = field(compare=False, default=True)
    expired: bool = field(compare=False, default=False)


class Watchdog:
    """Shuts down sockets whose request outlives its deadline (a monotonic time)."""

    def __init__(self) -> None:
        self._heap: list[Ticket] = []
        self._condition = threading.Condition()
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def watch(self, deadline: float, sock: socket.socket) -> Ticket:
        ticket = Ticket(deadline, next(self._sequence), sock)
        with self._condition:
            self._ensure_thread()
            heapq.heappush(self._heap, ticket)
            if self._heap[0] is ticket:
                self._condition.notify()
        return ticket

    def release(self, ticket: Ticket) -> None:
        """The request is over; its socket is no longer watched."""
        with self._condition:
            ticket.active = False
            ticket.sock = None

    def _ensure_thread(self) -> None:
        # A forked worker process inherits the heap but not the thread.
        if self._thread is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._heap.clear()
            self._thread = threading.Thread(
                target=self._run, name="webhooks-deadlines", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        with self._condition:
            while True:
                while self._heap and not self._heap[0].active:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._condition.wait()
                    continue
                wait = self._heap[0].deadline - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                ticket = heapq.heappop(self._heap)
                ticket.expired = True
                _shut(ticket.sock)
                ticket.sock = None


def _shut(sock: socket.socket | None) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by its sender


watchdog = Watchdog()
