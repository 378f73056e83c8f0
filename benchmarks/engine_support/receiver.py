"""The benchmark's webhook receiver: a fast asyncio HTTP/1.1 server in its own process.

    python -m benchmarks.engine_support.receiver [--port 0]

It prints ``PORT <n>`` once it listens on 127.0.0.1, then serves until stdin
closes or ``POST /_quit``. It is hand-written on ``asyncio.Protocol`` (stdlib
only, no Django) so that its own cost stays small and visible: the harness
reads its CPU time from /proc like every other process's.

- Any POST path answers ``200 ok`` in one write (split writes meet delayed
  ACKs, ~40 ms each) and records (path, webhook-id, wall time, body bytes).
- ``/hang`` paths read the request and never answer, until the client closes:
  an endpoint that holds connections open.
- ``/_stats``, ``/_arrivals?since=N`` and ``POST /_reset`` are the control
  channel; they are never recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from collections import Counter
from urllib.parse import parse_qs, urlsplit

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
HANG_PREFIX = "/hang"
MAX_HEAD = 64 * 1024


class Recorder:
    """Every recorded request, in arrival order, plus counters for cheap polling."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.arrivals: list[tuple[str, str, float, int]] = []
        self.by_path: Counter[str] = Counter()
        self.body_bytes = 0
        self.hanging_total = 0
        self.hanging_open = 0
        self.connections = 0
        self.last_arrival = 0.0

    def record(self, path: str, message_id: str, arrived: float, size: int) -> None:
        self.arrivals.append((path, message_id, arrived, size))
        self.by_path[path] += 1
        self.body_bytes += size
        self.last_arrival = arrived

    def stats(self) -> dict:
        return {
            "count": len(self.arrivals),
            "by_path": dict(self.by_path),
            "body_bytes": self.body_bytes,
            "hanging_total": self.hanging_total,
            "hanging_open": self.hanging_open,
            "connections": self.connections,
            "last_arrival": self.last_arrival,
        }


def parse_chunked(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """Decode a chunked body starting at ``start``; None until it is complete."""
    body = bytearray()
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
        position = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", position - 2)
            if trailer_end < 0:
                return None
            return bytes(body), trailer_end + 4
        if len(buffer) < position + size + 2:
            return None
        body += buffer[position : position + size]
        position += size + 2


class Connection(asyncio.Protocol):
    """One keep-alive client connection; requests are handled in order."""

    def __init__(self, recorder: Recorder, stop: asyncio.Event) -> None:
        self.recorder = recorder
        self.stop = stop
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.hanging = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.recorder.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.hanging:
            self.recorder.hanging_open -= 1

    def eof_received(self) -> bool:
        return False  # close our side too

    def data_received(self, data: bytes) -> None:
        if self.hanging:
            return  # it never answers; whatever else comes is ignored
        self.buffer += data
        while self.transport is not None and not self.hanging:
            request = self._next_request()
            if request is None:
                if len(self.buffer) > MAX_HEAD and b"\r\n\r\n" not in self.buffer:
                    self.transport.close()
                return
            self._handle(*request)

    def _next_request(self) -> tuple[str, str, dict[str, str], bytes] | None:
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        lines = bytes(self.buffer[:head_end]).decode("latin-1").split("\r\n")
        method, target = lines[0].split(" ", 2)[:2]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parsed = parse_chunked(self.buffer, head_end + 4)
            if parsed is None:
                return None
            body, end = parsed
        else:
            end = head_end + 4 + int(headers.get("content-length") or 0)
            if len(self.buffer) < end:
                return None
            body = bytes(self.buffer[head_end + 4 : end])
        del self.buffer[:end]
        return method, target, headers, body

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        arrived = time.time()
        assert self.transport is not None
        path = urlsplit(target).path
        if path.startswith("/_"):
            self._control(method, target, path)
            return
        if path.startswith(HANG_PREFIX):
            self.hanging = True
            self.recorder.hanging_total += 1
            self.recorder.hanging_open += 1
            return
        self.recorder.record(path, headers.get("webhook-id", ""), arrived, len(body))
        if headers.get("connection", "").lower() == "close":
            self.transport.write(OK_CLOSE)
            self.transport.close()
        else:
            self.transport.write(OK)

    def _control(self, method: str, target: str, path: str) -> None:
        assert self.transport is not None
        if path == "/_stats":
            document: object = self.recorder.stats()
        elif path == "/_arrivals":
            since = int(parse_qs(urlsplit(target).query).get("since", ["0"])[0])
            document = self.recorder.arrivals[since:]
        elif path == "/_reset" and method == "POST":
            self.recorder.reset()
            document = {"reset": True}
        elif path == "/_quit" and method == "POST":
            self.stop.set()
            document = {"quit": True}
        else:
            document = {"error": f"unknown control path {path}"}
        payload = json.dumps(document, separators=(",", ":")).encode()
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(payload), payload)
        )


async def serve(port: int) -> None:
    """Listen on 127.0.0.1 only; stop on /_quit or when the parent closes our stdin."""
    loop = asyncio.get_running_loop()
    recorder = Recorder()
    stop = asyncio.Event()
    server = await loop.create_server(
        lambda: Connection(recorder, stop), "127.0.0.1", port, backlog=1024
    )
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    # A daemon thread, not an executor: asyncio.run would wait for a blocked read.
    threading.Thread(
        target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
    ).start()
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
