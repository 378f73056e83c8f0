"""Validation of an endpoint's stored settings, shared by the model, admin, API and commands.

Each validator raises Django's ``ValidationError``; the model's fields use them,
so ``full_clean()`` (and with it every ModelForm, the admin included) refuses
what a delivery could not send. None of them connects or resolves a name.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from webhooks_app import redaction, signing

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise as StrOrPromise

# RFC 9110 field-name token; \Z, not $, so that a trailing newline cannot pass.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# RFC 9110 field values: visible characters, spaces and tabs; CR, LF, NUL and
# the other controls would inject headers or make servers refuse the request.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers that deliveries set themselves; an endpoint's extra headers may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "transfer-encoding",
        "connection",
        "host",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
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


def validate_headers(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError(
            _("Extra headers must be an object of names and values."), code="invalid"
        )
    for name, header_value in value.items():
        problem = header_problem(name, header_value)
        if problem:
            raise ValidationError(problem, code="invalid_header")


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
    from webhooks_app.api.validators import check_url_target

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
