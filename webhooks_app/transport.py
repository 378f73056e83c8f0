"""HTTP transport for deliveries: a pooled session, an SSRF guard, capped reads.

No models here. The guard works at connection time: the host is resolved,
every address is classified, and the socket is connected to the very address
that was checked (then its peer address is checked once more), so a DNS answer
that changes between a check and the connect cannot slip through.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from webhooks_app.retry import ErrorKind

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


class BlockedAddress(Exception):
    """The target resolves to an address that deliveries may not reach."""


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried inside an IPv4-mapped, 6to4 or Teredo IPv6 address."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.teredo:
        return address.teredo[1]
    return address.ipv4_mapped or address.sixtofour


def is_public_address(address: IPAddress) -> bool:
    """True for a globally routable unicast address (not a metadata service)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return is_public_address(address.ipv4_mapped)
    inner = embedded_ipv4(address)
    if inner is not None and not is_public_address(inner):
        return False
    return not (
        address in METADATA_ADDRESSES
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def is_allowed_address(address: str | IPAddress, allowed: Iterable[Network] = ()) -> bool:
    """Whether a delivery may connect to ``address``, given exempt networks."""
    ip = ipaddress.ip_address(str(address).split("%", 1)[0])  # drop an IPv6 zone id
    allowing = [net for net in allowed if ip.version == net.version and ip in net]
    if ip in METADATA_ADDRESSES or ip in {embedded_ipv4(ip)} & METADATA_ADDRESSES:
        # A broad exemption such as 169.254.0.0/16 must not open the cloud
        # metadata service; only a single-address entry can.
        return any(net.num_addresses == 1 for net in allowing)
    return bool(allowing) or is_public_address(ip)


def resolve_allowed(
    host: str, port: int, allowed: Iterable[Network] = (), resolver=socket.getaddrinfo
) -> str:
    """Resolve ``host`` and return an address to connect to, or raise BlockedAddress.

    Every resolved address must be allowed, so a name with one public and one
    private address is refused rather than connected by chance.
    """
    allowed = tuple(allowed)
    infos = resolver(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    refused = [a for a in addresses if not is_allowed_address(a, allowed)]
    if refused or not addresses:
        raise BlockedAddress(
            f"{host} resolves to {', '.join(refused) or 'nothing'}, which deliveries may not "
            "reach (see WEBHOOKS['ALLOWED_NETWORKS'])"
        )
    return addresses[0]


class _GuardedConnectionMixin:
    allowed_networks: tuple[Network, ...] = ()

    def _new_conn(self) -> socket.socket:
        checked = resolve_allowed(self._dns_host, self.port, self.allowed_networks)
        original, self._dns_host = self._dns_host, checked
        try:
            sock = super()._new_conn()
        finally:
            self._dns_host = original
        peer = sock.getpeername()[0]
        if not is_allowed_address(peer, self.allowed_networks):
            sock.close()
            raise BlockedAddress(f"Connected to {peer}, which deliveries may not reach")
        return sock


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections go only to allowed addresses."""

    def __init__(self, allowed_networks: tuple[Network, ...], **kwargs) -> None:
        self.allowed_networks = allowed_networks
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        networks = self.allowed_networks

        class Conn(_GuardedConnectionMixin, HTTPConnection):
            allowed_networks = networks

        class TLSConn(_GuardedConnectionMixin, HTTPSConnection):
            allowed_networks = networks

        class Pool(HTTPConnectionPool):
            ConnectionCls = Conn

        class TLSPool(HTTPSConnectionPool):
            ConnectionCls = TLSConn

        self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TLSPool}


@lru_cache(maxsize=8)
def _session(pid: int, allowed_networks: tuple[str, ...]) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # a proxy from the environment would bypass the guard
    adapter = GuardedAdapter(parse_networks(allowed_networks), pool_maxsize=20, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def get_session(allowed_networks: Iterable[str] = ()) -> requests.Session:
    """The pooled session of this process (a forked worker gets its own)."""
    return _session(os.getpid(), tuple(allowed_networks))


@dataclass(frozen=True)
class Response:
    """What one POST produced: a status and capped body, or an error."""

    status_code: int | None
    body: str
    headers: Mapping[str, str]
    duration_ms: int
    error_kind: str = ""
    error: str = ""


def _read_capped(response: requests.Response, limit: int, deadline: float) -> str:
    """Read at most ``limit`` bytes, stopping at ``deadline`` (a monotonic time).

    The read timeout bounds each socket read, not the whole body, so a reply
    that trickles in byte by byte is cut off here: a request must not outlast
    its delivery lease.
    """
    data = bytearray()
    while len(data) < limit and time.monotonic() < deadline:
        chunk = response.raw.read1(min(8192, limit - len(data)), decode_content=True)
        if not chunk:
            break
        data += chunk
    return bytes(data).decode(response.encoding or "utf-8", errors="replace")


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: tuple[float, float],
    allowed_networks: Iterable[str] = (),
    max_body: int = 20_480,
) -> Response:
    """POST ``body`` to ``url``, never following redirects; errors become a Response."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    if urlsplit(url).scheme not in ("http", "https"):
        return Response(None, "", {}, 0, ErrorKind.INVALID_URL, "Only http and https URLs")
    try:
        with get_session(allowed_networks).post(
            url,
            data=body,
            headers=dict(headers),
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            text = _read_capped(response, max_body, started + sum(timeout))
            return Response(
                response.status_code,
                text,
                CaseInsensitiveDict(response.headers),
                elapsed(),
            )
    except BlockedAddress as exc:
        return Response(None, "", {}, elapsed(), ErrorKind.BLOCKED, str(exc))
    except requests.Timeout as exc:
        return Response(None, "", {}, elapsed(), ErrorKind.TIMEOUT, _describe(exc, url))
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
        return Response(None, "", {}, elapsed(), ErrorKind.INVALID_URL, _describe(exc, url))
    except (requests.ConnectionError, requests.RequestException, OSError) as exc:
        return Response(None, "", {}, elapsed(), ErrorKind.CONNECTION, _describe(exc, url))


def _describe(exc: BaseException, url: str) -> str:
    """The error for the Attempt row, with any password from the URL masked."""
    text = f"{type(exc).__name__}: {exc}"
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, "********")
    return text[:1000]
