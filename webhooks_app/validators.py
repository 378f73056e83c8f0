"""Validation of an endpoint's stored settings, shared by the model, admin, API and commands.

Each validator raises Django's ``ValidationError``; the model's fields use them,
so ``full_clean()`` (and with it every ModelForm, the admin included) refuses
what a delivery could not send. None of them connects anywhere; only
:func:`check_endpoint_url` resolves a host name (through :func:`resolve`, or the
``resolver`` passed in) to classify its addresses. URLs are read by
:func:`webhooks_app.transport.addresses.parse_target`, as the sender reads them.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from webhooks_app import conf, json_values, redaction, signing
from webhooks_app.transport.addresses import (
    BlockedAddress,
    Resolver,
    Target,
    UnsafeURL,
    is_allowed_address,
    parse_networks,
    parse_target,
    resolve_allowed,
)

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise as StrOrPromise

# RFC 9110 field-name token; \Z, not $, so that a trailing newline cannot pass.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# RFC 9110 field values: visible characters, spaces and tabs; CR, LF, NUL and
# the other controls would inject headers or make servers refuse the request.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers that deliveries set themselves (lower case); an endpoint's extra headers may not
# replace them: refused when saved, and dropped when sending what was stored past validation.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "transfer-encoding",
        "connection",
        "host",
        "user-agent",
        *signing.SIGNATURE_HEADERS,
    }
)
MIN_SECRET_BYTES = 24  # Standard Webhooks: keys of 24 to 64 bytes


def header_problem(name: Any, value: Any) -> str | None:
    """Why HTTP cannot send this extra header as it is, or None. Never quotes the value."""
    if not isinstance(name, str) or not HEADER_NAME.match(name):
        return _("%(name)r is not a valid header name.") % {"name": name}
    if name.lower() in RESERVED_HEADERS:
        return _("%(name)s is set by every delivery and cannot be replaced.") % {"name": name}
    if not isinstance(value, str):
        return _("The value of %(name)s must be a string.") % {"name": name}
    if value == redaction.MASK:
        return _(
            "The value of %(name)s is the mask shown for a stored value; type the value itself."
        ) % {"name": name}
    if CONTROL_CHARACTERS.search(value):
        return _(
            "The value of %(name)s may not contain line breaks or other control characters."
        ) % {"name": name}
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return _("The value of %(name)s has characters HTTP headers cannot carry.") % {"name": name}
    return None


def unmask_headers(submitted: Any, stored: Any, *, url: str, stored_url: str) -> Any:
    """Submitted extra headers where a masked value keeps the stored value of that header.

    Only while ``url`` keeps ``stored_url``'s scheme, host and port: whoever sends a
    value back masked could not read it, and must not send it to a host of their
    choosing. Otherwise ``ValidationError``, naming each header to enter again.
    """
    stored = stored if isinstance(stored, dict) else {}
    names = redaction.masked_names(submitted, stored)
    if names and not redaction.same_origin(url, stored_url):
        raise ValidationError(
            [
                ValidationError(
                    _(
                        "Enter the value of %(name)s again for the new host: a stored "
                        "value is sent only to the scheme, host and port it was set for."
                    ),
                    code="masked_for_new_host",
                    params={"name": name},
                )
                for name in names
            ]
        )
    return redaction.unmask_headers(submitted, stored)


def validate_headers(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError(
            _("Extra headers must be an object of names and values."), code="invalid"
        )
    for name, header_value in value.items():
        problem = header_problem(name, header_value)
        if problem:
            raise ValidationError(problem, code="invalid_header")


JSON_PROBLEMS = {
    json_values.Problem.NUL: _(
        "The JSON holds a NUL character (\\u0000), which cannot be stored; remove it."
    ),
    json_values.Problem.SURROGATE: _(
        "The JSON holds a lone surrogate (\\ud800 to \\udfff without its pair), which "
        "cannot be stored; send the character itself or a valid pair."
    ),
    json_values.Problem.TOO_DEEP: _(
        "The JSON is nested more than %(depth)d levels deep (arrays and objects inside each other)."
    ),
}


def json_problem(value: Any, *, nul: bool = True) -> str | None:
    """Why a JSON value from outside cannot be stored or processed, or None.

    No NUL and no lone surrogate in any string or key (PostgreSQL's ``jsonb``
    refuses both), and at most :data:`webhooks_app.json_values.MAX_DEPTH` levels of
    nesting (deeper ends in a ``RecursionError`` when it is serialised or validated).
    ``nul=False`` lets NUL characters pass, for a body whose fields refuse them by name.
    """
    problem = json_values.problem(value, nul=nul)
    if problem is None:
        return None
    return JSON_PROBLEMS[problem] % {"depth": json_values.MAX_DEPTH}


def validate_json_value(value: Any) -> None:
    """:func:`json_problem` as Django's ``ValidationError``."""
    problem = json_problem(value)
    if problem:
        raise ValidationError(problem, code="unstorable_json")


def secret_problem(value: str) -> str | None:
    """Why a stored secret cannot sign, or None. Never quotes the secret."""
    try:
        key = signing.secret_key(value)
    except ValueError:
        key = b""
    if not value.startswith(signing.SECRET_PREFIX) or len(key) < MIN_SECRET_BYTES:
        return _("A secret is whsec_ followed by at least %(count)d base64-encoded bytes.") % {
            "count": MIN_SECRET_BYTES
        }
    return None


def validate_secret(value: str) -> None:
    """A blank secret is fine: one is generated when the endpoint is saved."""
    if value:
        problem = secret_problem(value)
        if problem:
            raise ValidationError(problem, code="invalid_secret")


def validate_endpoint_url(value: str) -> None:
    """http(s) with a host, read as the sender reads it, and no private, loopback, reserved or
    metadata address literal unless ``WEBHOOKS["ALLOWED_NETWORKS"]`` covers it.

    A host name is not resolved here: the delivery transport checks every address it
    resolves to at connect time (and the API also resolves it when an endpoint is saved).
    """
    from webhooks_app.validators import check_url_target

    check_url_target(value)


def event_type_problem(value: Any) -> StrOrPromise | None:
    """``order.paid``, ``order.*`` or ``*``: no spaces, a wildcard only as a last segment."""
    if not isinstance(value, str) or not value or any(ch.isspace() for ch in value):
        return _("An event type must be a non-empty string without spaces.")
    if "*" in value and not (value == "*" or (value.endswith(".*") and value.count("*") == 1)):
        return _('A wildcard may only end a pattern, as in "order.*", or stand alone ("*").')
    return None


def event_types_problem(value: Any) -> StrOrPromise | None:
    """Why a stored event-type filter cannot be used, or None."""
    if not isinstance(value, list):
        return _('Event types must be a list, e.g. ["order.paid", "user.*"].')
    for pattern in value:
        problem = event_type_problem(pattern)
        if problem:
            return problem
    return None


def validate_event_types(value: Any) -> None:
    problem = event_types_problem(value)
    if problem:
        code = "invalid" if not isinstance(value, list) else "invalid_event_type"
        raise ValidationError(problem, code=code)


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
