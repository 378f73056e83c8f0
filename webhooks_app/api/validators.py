"""Endpoint URL checks: http(s) only, and no private targets unless allowed.

Framework-neutral: :func:`check_endpoint_url` raises Django's
``ValidationError``, so forms and serializers can both use it. It never
connects anywhere; a host name is only resolved (through :func:`resolve`, or
the ``resolver`` passed in) to classify its addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from webhooks_app import conf
from webhooks_app.transport import (
    BlockedAddress,
    is_allowed_address,
    parse_networks,
    resolve_allowed,
)

Resolver = Callable[..., list]

SCHEMES = ("http", "https")


def resolve(host: str, port: int, type: int = socket.SOCK_STREAM) -> list:
    """The default resolver: the system's ``getaddrinfo`` (a DNS lookup for most names)."""
    return socket.getaddrinfo(host, port, type=type)


def check_endpoint_url(
    url: str,
    *,
    allowed_networks: Iterable[str] | None = None,
    resolver: Resolver | None = None,
) -> None:
    """Refuse a URL that deliveries could not or must not reach.

    Only ``http`` and ``https`` are accepted. A literal IP address must be
    public unless ``allowed_networks`` (default ``WEBHOOKS["ALLOWED_NETWORKS"]``)
    covers it; a host name is resolved and every address it resolves to must
    pass the same test, as the delivery transport requires at connect time.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise ValidationError(
            _("Only http and https URLs can receive webhooks."), code="invalid_scheme"
        )
    host = parts.hostname
    if not host:
        raise ValidationError(_("The URL has no host."), code="invalid_host")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise ValidationError(_("The URL's port is not valid."), code="invalid_port") from None
    cidrs = conf.get("ALLOWED_NETWORKS") if allowed_networks is None else allowed_networks
    networks = parse_networks(cidrs)

    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass  # a name: resolved below
    else:
        if not is_allowed_address(host, networks):
            raise ValidationError(
                _(
                    "%(host)s is a private, loopback or reserved address, which webhooks may "
                    "not be sent to (see WEBHOOKS['ALLOWED_NETWORKS'])."
                ),
                code="blocked_address",
                params={"host": host},
            )
        return

    try:
        resolve_allowed(host, port, networks, resolver=resolver or resolve)
    except BlockedAddress as exc:
        raise ValidationError(str(exc), code="blocked_address") from None
    except (OSError, UnicodeError):
        raise ValidationError(
            _("The host %(host)s could not be resolved."),
            code="unresolvable_host",
            params={"host": host},
        ) from None
