"""One HTTP/1.1 connection of the asynchronous client: an asyncio protocol around h11.

h11 does all of HTTP (framing the request, parsing the answer, keep-alive
rules); this only moves bytes between it and the socket, and tells the client
when a connection may not serve another request. An asyncio ``Protocol`` rather
than a ``StreamReader``: bytes or an end of stream arriving on an idle
connection are seen the moment they come, and such a connection is never
reused (a stray byte there would be read as the next request's answer; urllib3
checks the same before each reuse). Reading stops while the client is not
waiting for data, so a receiver sending fast fills no buffer beyond one read.
No models and no settings here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import h11

MAX_HEAD = 65_536
"""The most bytes of an answer's head (status line and headers) read before giving up."""
MAX_HEADERS = 100
"""An answer with more header lines is refused, as http.client refuses it."""


class ConnectionLost(ConnectionError):
    """The receiver closed the connection, or it broke, before the answer was complete."""


class Connection(asyncio.Protocol):
    """h11's client state and the transport; the client awaits :meth:`next_event`."""

    def __init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.transport: asyncio.Transport | None = None
        self.idle = False  # in the pool: any byte or end of stream now disqualifies it
        self.broken = False  # may not serve another request
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._error: BaseException | None = None

    # -- asyncio's side ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.idle:  # nobody asked: it cannot be the answer to anything
            self.close()
            return
        self.h11.receive_data(data)
        if self._waiter is None:
            self._pause()
        else:
            self._wake()

    def eof_received(self) -> bool:
        self.broken = True
        if not self.idle:
            self.h11.receive_data(b"")
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None and not self.broken and not self.idle:
            self.h11.receive_data(b"")  # closed without an end of stream first
        self.broken = True
        self._error = exc
        self._wake()

    # -- the client's side ----------------------------------------------------------------

    async def next_event(self, before_waiting: Callable[[], None]) -> h11.Event:
        """h11's next event of the answer, waiting for bytes as long as it needs them
        (calling ``before_waiting`` before each wait).

        Raises ``h11.RemoteProtocolError`` for an answer that is not HTTP, and
        ConnectionLost when the connection broke (a reset) with no event left to read.
        """
        while True:
            if self.h11.their_state is h11.SEND_RESPONSE and self.h11.trailing_data == (b"", True):
                raise ConnectionLost("Remote end closed connection without response")
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                if isinstance(event, h11.Response) and len(event.headers) > MAX_HEADERS:
                    raise h11.RemoteProtocolError(f"got more than {MAX_HEADERS} headers")
                return event  # type: ignore[return-value]
            if self.broken:
                error = self._error
                raise ConnectionLost(f"{type(error).__name__}: {error}" if error else "Closed")
            before_waiting()
            self._waiter = asyncio.get_running_loop().create_future()
            if self._paused:
                self._paused = False
                self.transport.resume_reading()  # type: ignore[union-attr]
            try:
                await self._waiter
            finally:
                self._waiter = None

    def send(self, *events: h11.Event) -> None:
        """Write the events as one write (a request's head and body go out together)."""
        self.transport.write(b"".join(self.h11.send(event) or b"" for event in events))  # type: ignore[union-attr]

    def reusable(self) -> bool:
        """Whether it may serve another request: the answer was read whole and both sides
        agreed to keep the connection (or no request went out on it)."""
        if self.broken or self.transport is None or self.transport.is_closing():
            return False
        if self.h11.our_state is h11.IDLE and self.h11.their_state is h11.IDLE:
            return True  # no request went out on it (its deadline had passed)
        if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
            return False
        if self.h11.trailing_data[0]:  # bytes after the answer: not ours to guess about
            return False
        self.h11.start_next_cycle()
        return True

    def close(self) -> None:
        """Drop the connection at once (no orderly close: it may be mid-answer)."""
        self.broken = True
        if self.transport is not None:
            self.transport.abort()

    def _pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
