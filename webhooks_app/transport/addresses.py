"""Where a webhook URL points, and whether deliveries may go there.

Pure functions: no Django, nothing here resolves a name or opens a socket
(:func:`resolve_allowed` is handed its resolver). The endpoint checks and the
sender's connect-time guard classify addresses here, and URLs are read by
:func:`parse_target` with urllib3's ``parse_url``, the parser the sender
connects with, so a check and a connection cannot disagree on where a URL
points. A URL that other parsers could read differently (a backslash, a raw
``@`` in the user name, a percent-encoded or non-ASCII host, an IPv4 address
written as one number...) is refused rather than interpreted.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack
        "fd00:ec2::254",  # AWS over IPv6
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.170.23",  # AWS EKS Pod Identity agent
        "fd00:ec2::23",  # the same over IPv6
        "fd20:ce::254",  # GCP over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (a public-looking address)
    )
)
"""Cloud metadata and credential services: never reachable, whatever is allowed."""

NOT_PUBLIC_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "192.0.0.0/24",  # IETF protocol assignments (not globally reachable)
        "fec0::/10",  # site-local (deprecated, still routed inside some networks)
        "64:ff9b:1::/48",  # local-use NAT64: may translate to any IPv4 address
        "3fff::/20",  # documentation (RFC 9637)
    )
)
"""Not routable on the internet, though some Python versions call them global."""

_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

SCHEMES = {"http": 80, "https": 443}

# The authority as urllib3 delimits it (its own _URI_RE): up to / ? # or a backslash.
_AUTHORITY = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://([^\\/?#]*)")
# WHATWG: a host whose last label is a number is an IPv4 address, in any base.
_NUMERIC_LABEL = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)\Z")
_PORT = re.compile(r"[0-9]{1,5}\Z")


class BlockedAddress(Exception):
    """The target resolves to an address that deliveries may not reach."""


class UnsafeURL(ValueError):
    """A URL that deliveries cannot use, or that parsers could read differently.

    ``code`` says why: ``invalid_url``, ``invalid_scheme``, ``invalid_host``,
    ``invalid_port``, ``ambiguous_url`` or ``numeric_host``. The message is for
    logs; user-facing text is chosen by the caller from the code.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    """Where the sender connects for a URL."""

    scheme: str
    host: str  # as the sender resolves it: lower case, IPv6 without brackets
    port: int
    address: IPAddress | None  # the host, when it is a literal address


def parse_target(url: str) -> Target:
    """The scheme, host and port the sender connects to, or raise UnsafeURL."""
    if not isinstance(url, str) or not url:
        raise UnsafeURL("invalid_url", "Not a URL")
    if any(ch <= " " or ch == "\x7f" for ch in url) or "\\" in url:
        raise UnsafeURL("ambiguous_url", "Whitespace, control characters or a backslash")
    match = _AUTHORITY.match(url)
    scheme = url.partition(":")[0].lower()
    if scheme not in SCHEMES:
        raise UnsafeURL("invalid_scheme", "Only http and https URLs")
    if match is None or not match.group(1):
        raise UnsafeURL("invalid_host", "No host in the URL")
    authority = match.group(1)
    if authority.count("@") > 1:
        raise UnsafeURL("ambiguous_url", 'A raw "@" in the user name or password')
    if not authority.isascii():
        raise UnsafeURL("ambiguous_url", "A non-ASCII host")
    host_port = authority.rpartition("@")[2]
    raw_host, port_text = _split_host_port(host_port)
    if "%" in raw_host:
        raise UnsafeURL("ambiguous_url", "A percent-encoded host or an IPv6 zone id")
    if not raw_host:
        raise UnsafeURL("invalid_host", "No host in the URL")
    if port_text is not None and port_text != "" and not _valid_port(port_text):
        raise UnsafeURL("invalid_port", "The port is not a number from 1 to 65535")
    try:
        parsed = parse_url(url)
    except LocationParseError:  # its message may quote the URL, and a password with it
        raise UnsafeURL("invalid_url", "Not a URL that urllib3 can parse") from None
    host = (parsed.host or "").removeprefix("[").removesuffix("]")
    if not host:
        raise UnsafeURL("invalid_host", "No host in the URL")
    return Target(scheme, host, parsed.port or SCHEMES[scheme], _literal_address(host))


def _split_host_port(host_port: str) -> tuple[str, str | None]:
    if host_port.startswith("["):
        host, bracket, rest = host_port.partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise UnsafeURL("invalid_url", "A malformed IPv6 address in brackets")
        return host + bracket, rest[1:] if rest else None
    host, colon, port = host_port.partition(":")
    return host, port if colon else None


def _valid_port(text: str) -> bool:
    return bool(_PORT.match(text)) and 0 < int(text) <= 65535


def _literal_address(host: str) -> IPAddress | None:
    """The address a literal host stands for; None for a name. Refuses other numbers."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:  # parse_url's grammar allows what ipaddress refuses (::1.2.3.04)
            raise UnsafeURL("ambiguous_url", "An IPv6 address read differently") from None
    try:
        return ipaddress.IPv4Address(host)
    except ValueError:
        pass
    if _NUMERIC_LABEL.match(host.removesuffix(".").rpartition(".")[2]):
        raise UnsafeURL("numeric_host", "An IPv4 address not written as four decimal numbers")
    return None


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, SIIT, NAT64, 6to4, Teredo).

    Empty for an IPv4 address and for an IPv6 address that carries none.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return ()
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _MAPPED or address in _TRANSLATED or address in _NAT64:
        return (low32,)
    if address in _COMPATIBLE and int(address) > 1:  # not :: or ::1
        return (low32,)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo  # (server, client)
    return ()


def _stands_for(address: IPAddress) -> IPAddress:
    """The IPv4 address that a mapped or NAT64 address reaches; else the address itself."""
    if isinstance(address, ipaddress.IPv6Address) and (address in _MAPPED or address in _NAT64):
        return embedded_ipv4(address)[0]
    return address


def is_metadata_address(address: IPAddress) -> bool:
    """A cloud metadata service, written plainly or inside an IPv6 address."""
    return address in METADATA_ADDRESSES or any(
        inner in METADATA_ADDRESSES for inner in embedded_ipv4(address)
    )


def is_public_address(address: IPAddress) -> bool:
    """True for a globally routable unicast address, and only if what it carries is too."""
    reached = _stands_for(address)
    if reached is not address:
        return is_public_address(reached)
    return not (
        is_metadata_address(address)
        or _covered(address, NOT_PUBLIC_NETWORKS)
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    ) and all(is_public_address(inner) for inner in embedded_ipv4(address))


def _covered(address: IPAddress, networks: Iterable[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def is_allowed_address(address: str | IPAddress, allowed: Iterable[Network] = ()) -> bool:
    """Whether a delivery may connect to ``address``, given exempt networks.

    An exempt network opens the addresses it covers (a mapped address is also
    covered by its IPv4 address's network), but never a metadata service, not
    even by an entry naming exactly that address.
    """
    ip = ipaddress.ip_address(str(address).split("%", 1)[0])  # drop an IPv6 zone id
    if is_metadata_address(ip):
        return False
    allowed = tuple(allowed)
    if _covered(ip, allowed) or (ip in _MAPPED and _covered(_stands_for(ip), allowed)):
        return True
    return is_public_address(ip)


Resolver = Callable[..., list]


def resolve_allowed(
    host: str, port: int, allowed: Iterable[Network] = (), *, resolver: Resolver
) -> str:
    """Resolve ``host`` with ``resolver`` (``getaddrinfo``'s signature) and return an
    address to connect to, or raise BlockedAddress.

    Every resolved address must be allowed, so a name with one public and one
    private address is refused rather than connected by chance.
    """
    allowed = tuple(allowed)
    infos = resolver(host, port, type=socket.SOCK_STREAM)
    found = list(dict.fromkeys(info[4][0] for info in infos))
    refused = [a for a in found if not is_allowed_address(a, allowed)]
    if refused or not found:
        raise BlockedAddress(
            f"{host} resolves to {', '.join(refused) or 'nothing'}, which deliveries may not "
            "reach (see WEBHOOKS['ALLOWED_NETWORKS'])"
        )
    return found[0]
