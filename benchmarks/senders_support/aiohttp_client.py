"""The delivery transport rebuilt on aiohttp: the contender ``asyncio-ours-aiohttp``.

BENCHMARK-ONLY. It is what ``webhooks_app.transport.AsyncClient`` (h11 on asyncio)
would have been on aiohttp, kept to compare the two libraries with the same
guarantees on the measured path, through aiohttp's own hooks:

- the SSRF guard: a resolver (:class:`GuardedResolver`) that resolves off the loop
  and returns only the checked address (aiohttp connects to it, and verifies TLS
  against the URL's host); aiohttp never asks the resolver about a literal address,
  so the connector checks those itself, and checks every new connection's peer
  (overriding ``TCPConnector._create_direct_connection``, a private method: the
  only place aiohttp shows the socket before a request is written);
- one deadline: ``ClientTimeout(total=deadline - now)``, with the connect and read
  timeouts per step, as ``transport.post`` has them;
- the capped read, inflated within the cap by ``webhooks_app.transport.decoding``
  (aiohttp's own decompression is off), the charset rule, no redirects, no proxy
  from the environment (``trust_env=False``, aiohttp's default).

What it cannot do without patching aiohttp: look at the deadline once more right
before the request is written (aiohttp connects and writes in one call), so a
connection that used up the deadline may still send; this one checks before the
call only. Error kinds follow ``transport.post``'s for the common failures.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from webhooks_app.retry import ErrorKind
from webhooks_app.transport import async_client
from webhooks_app.transport.addresses import (
    BlockedAddress,
    Network,
    UnsafeURL,
    is_allowed_address,
    parse_networks,
    parse_target,
)
from webhooks_app.transport.decoding import DecodeError, Decoder
from webhooks_app.transport.response import (
    BODY_LATE,
    NO_ANSWER,
    NOT_SENT,
    Response,
    body_problem,
    charset,
    describe,
    ms_since,
)


class GuardedResolver(AbstractResolver):
    """Resolves a name off the loop; only an address that every answer allows comes back."""

    def __init__(self, allowed: tuple[Network, ...]) -> None:
        self.allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        address = await loop.run_in_executor(
            None, async_client.resolve_allowed, host, port, self.allowed
        )
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        """Nothing to release."""


class GuardedConnector(aiohttp.TCPConnector):
    """Checks literal addresses and the peer of every new connection."""

    def __init__(self, allowed: tuple[Network, ...], **kwargs: Any) -> None:
        super().__init__(resolver=GuardedResolver(allowed), use_dns_cache=False, **kwargs)
        self.allowed = allowed

    async def _create_direct_connection(self, req, traces, timeout, **kwargs):  # type: ignore[no-untyped-def]
        host = (req.url.raw_host or "").strip("[]")
        target = parse_target(str(req.url))
        if target.address is not None and not is_allowed_address(target.address, self.allowed):
            raise BlockedAddress(f"{host} resolves to {host}, which deliveries may not reach")
        transport, protocol = await super()._create_direct_connection(
            req, traces, timeout, **kwargs
        )
        peer = transport.get_extra_info("peername")[0]
        if not is_allowed_address(peer, self.allowed):
            transport.close()
            raise BlockedAddress(f"Connected to {peer}, which deliveries may not reach")
        return transport, protocol


class AiohttpClient:
    """``AsyncClient``'s interface on one ``aiohttp.ClientSession``."""

    def __init__(self, *, allowed_networks: Iterable[str] = (), pool_size: int = 32) -> None:
        allowed = parse_networks(allowed_networks)
        self.session = aiohttp.ClientSession(
            # limit=0: no cap on connections in flight (as the pool of transport.post);
            # idle ones are kept per host as aiohttp does.
            connector=GuardedConnector(allowed, limit=0, limit_per_host=0),
            auto_decompress=False,
            trust_env=False,
        )
        self.pool_size = pool_size

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
        started = time.monotonic()
        deadline = started + sum(timeout) if deadline is None else deadline

        def failed(kind: str, error: str) -> Response:
            return Response(None, "", {}, ms_since(started), kind, error)

        try:
            parse_target(url)
        except UnsafeURL as exc:
            return failed(ErrorKind.INVALID_URL, str(exc))
        if started >= deadline:
            return failed(ErrorKind.NOT_SENT, NOT_SENT)
        limits = aiohttp.ClientTimeout(
            total=deadline - started, sock_connect=timeout[0], sock_read=timeout[1]
        )
        try:
            response = await self.session.post(
                url, data=body, headers=dict(headers), allow_redirects=False, timeout=limits
            )
        except BlockedAddress as exc:
            return failed(ErrorKind.BLOCKED, str(exc))
        except TimeoutError:
            return failed(ErrorKind.TIMEOUT, NO_ANSWER)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            cause = exc.__cause__ or exc
            if isinstance(cause, BlockedAddress):
                return failed(ErrorKind.BLOCKED, str(cause))
            return failed(ErrorKind.CONNECTION, describe(exc, url))
        data, problem = bytearray(), ""
        decoder = Decoder(response.headers.get("Content-Encoding"))
        try:
            while len(data) < max_body:
                chunk = await response.content.read(65_536)
                if not chunk:
                    break
                data += decoder.decode(chunk, max_body - len(data))
        except TimeoutError:
            problem = BODY_LATE if time.monotonic() >= deadline else body_problem(TimeoutError())
        except (aiohttp.ClientError, OSError, DecodeError) as exc:
            problem = body_problem(exc)
        finally:
            if response.content.at_eof():
                response.release()
            else:
                response.close()  # a half-read answer must not meet the next request
        text = bytes(data).decode(charset(response.headers.get("Content-Type")), errors="replace")
        return Response(
            response.status,
            text,
            response.headers,
            ms_since(started),
            ErrorKind.RESPONSE_BODY if problem else "",
            problem[:1000],
        )

    async def aclose(self) -> None:
        await self.session.close()
