"""A minimal HTTP/1.1 client on asyncio streams. BENCHMARK-ONLY, NOT PRODUCTION QUALITY.

It exists to show the floor of what sending on asyncio could cost, and it gets
that floor by leaving out nearly everything a real client needs: it speaks
plain HTTP to an IP literal, keeps idle connections in a list, reads answers
with a ``Content-Length`` only (no chunked bodies, no ``Connection: close``
without a length, no 1xx), caps nothing, validates no header, and retries
nothing. Do not use it anywhere but ``benchmarks/senders.py``.

With ``guarded=True`` it adds the two things our transport does that an
asyncio rewrite of it could not leave out, in their cheapest form: the SSRF
guard at connect time (the host resolved off the loop, the address checked,
the socket connected to that address and its peer checked again; only new
connections pay it) and one overall deadline per request (``asyncio.timeout_at``
around the whole exchange).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Mapping

from webhooks_app.transport.addresses import (
    BlockedAddress,
    is_allowed_address,
    parse_networks,
    resolve_allowed,
)

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class StreamsClient:
    """Keep-alive connections to one host:port; POST one request at a time per connection."""

    def __init__(
        self, host: str, port: int, *, guarded: bool = False, allowed_networks: Iterable[str] = ()
    ) -> None:
        self.host = host
        self.port = port
        self.guarded = guarded
        self.allowed = parse_networks(allowed_networks)
        self.idle: list[Stream] = []
        self.host_header = f"Host: {host}:{port}\r\n"

    async def _connect(self) -> Stream:
        if not self.guarded:
            return await asyncio.open_connection(self.host, self.port)
        # The loop's getaddrinfo runs the lookup off the loop; the pure check is ours.
        infos = await asyncio.get_running_loop().getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM
        )
        address = resolve_allowed(
            self.host, self.port, self.allowed, resolver=lambda *_a, **_k: infos
        )
        reader, writer = await asyncio.open_connection(address, self.port)
        peer = writer.get_extra_info("peername")[0]
        if not is_allowed_address(peer, self.allowed):
            writer.close()
            raise BlockedAddress(f"Connected to {peer}, which deliveries may not reach")
        return reader, writer

    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str], deadline: float | None = None
    ) -> int:
        """The answer's status; the body is read and dropped. Raises on any trouble."""
        if self.guarded and deadline is not None:
            async with asyncio.timeout_at(deadline):
                return await self._exchange(path, body, headers)
        return await self._exchange(path, body, headers)

    async def _exchange(self, path: str, body: bytes, headers: Mapping[str, str]) -> int:
        reader, writer = self.idle.pop() if self.idle else await self._connect()
        try:
            lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            head = f"POST {path} HTTP/1.1\r\n{self.host_header}Content-Length: {len(body)}\r\n"
            writer.write((head + lines + "\r\n").encode("latin-1") + body)  # one write
            raw = await reader.readuntil(b"\r\n\r\n")
            status = int(raw[9:12])
            length, keep = 0, True
            for line in raw[:-4].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    keep = False
            await reader.readexactly(length)
        except BaseException:
            writer.close()  # a half-done exchange must not meet the next request
            raise
        if keep:
            self.idle.append((reader, writer))
        else:
            writer.close()
        return status

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()
