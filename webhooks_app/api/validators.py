"""Endpoint URL checks: http(s) only, one reading of the URL, no private targets unless allowed.

Framework-neutral: :func:`check_endpoint_url` raises Django's
``ValidationError``, so forms and serializers can both use it. It never
connects anywhere; a host name is only resolved (through :func:`resolve`, or
the ``resolver`` passed in) to classify its addresses. The URL is read by
:func:`webhooks_app.addresses.parse_target`, as the sender reads it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from webhooks_app import conf
from webhooks_app.addresses import (
    BlockedAddress,
    Resolver,
    Target,
    UnsafeURL,
    is_allowed_address,
    parse_networks,
    parse_target,
    resolve_allowed,
)

URL_PROBLEMS = {
    "invalid_url": _("This is not a URL that webhooks can be sent to."),
    "invalid_scheme": _("Only http and https URLs can receive webhooks."),
    "invalid_host": _("The URL has no host."),
    "invalid_port": _("The URL's port is not valid."),
    "ambiguous_url": _(
        "The URL has characters that URL parsers read differently (whitespace, a backslash, "
        'a raw "@" in the user name or password, a percent-encoded or non-ASCII host, an IPv6 '
        "zone id). Percent-encode them, and write international names in their xn-- form."
    ),
    "numeric_host": _(
        "Write an IPv4 address as four decimal numbers, e.g. 192.0.2.1, and a name with at "
        "least one letter in its last label."
    ),
}


def resolve(host: str, port: int, type: int = socket.SOCK_STREAM) -> list:
    """The default resolver: the system's ``getaddrinfo`` (a DNS lookup for most names)."""
    return socket.getaddrinfo(host, port, type=type)


def check_url_target(url: str, *, allowed_networks: Iterable[str] | None = None) -> Target:
    """Where ``url`` points, refused if it is ambiguous or a literal address not allowed.

    Resolves nothing: a host name passes here and is classified by
    :func:`check_endpoint_url` (or at connect time).
    """
    try:
        target = parse_target(url)
    except UnsafeURL as exc:
        raise ValidationError(URL_PROBLEMS[exc.code], code=exc.code) from None
    cidrs = conf.get("ALLOWED_NETWORKS") if allowed_networks is None else allowed_networks
    if target.address is not None and not is_allowed_address(target.address, parse_networks(cidrs)):
        raise ValidationError(
            _(
                "%(host)s is a private, loopback, reserved or metadata address, which webhooks "
                "may not be sent to (see WEBHOOKS['ALLOWED_NETWORKS'])."
            ),
            code="blocked_address",
            params={"host": target.host},
        )
    return target


def check_endpoint_url(
    url: str,
    *,
    allowed_networks: Iterable[str] | None = None,
    resolver: Resolver | None = None,
) -> None:
    """Refuse a URL that deliveries could not or must not reach.

    Only ``http`` and ``https`` are accepted, read once as the sender reads
    them. A literal IP address must be public unless ``allowed_networks``
    (default ``WEBHOOKS["ALLOWED_NETWORKS"]``) covers it; a host name is
    resolved and every address it resolves to must pass the same test, as the
    delivery transport requires at connect time.
    """
    cidrs = conf.get("ALLOWED_NETWORKS") if allowed_networks is None else allowed_networks
    target = check_url_target(url, allowed_networks=cidrs)
    if target.address is not None:
        return
    try:
        resolve_allowed(
            target.host, target.port, parse_networks(cidrs), resolver=resolver or resolve
        )
    except BlockedAddress as exc:
        raise ValidationError(str(exc), code="blocked_address") from None
    except (OSError, UnicodeError):
        raise ValidationError(
            _("The host %(host)s could not be resolved."),
            code="unresolvable_host",
            params={"host": target.host},
        ) from None
