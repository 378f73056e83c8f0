"""Parsing a verified body: JSON, or the form encoding some providers send.

Pure logic: no Django and no HTTP. The signature has been checked on the raw
bytes before any of this runs. GitHub's ``form`` content type and Slack's
interactivity send ``payload=<JSON>``; Slack's slash commands send plain form
fields. Anything that cannot be parsed, or is nested deeper than
:data:`MAX_DEPTH`, raises :class:`MalformedBody` (the sender gets 400): deep
nesting would otherwise end in a ``RecursionError`` while parsing or storing.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from webhooks_app import json_values

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"
MAX_DEPTH = json_values.MAX_DEPTH
MAX_FORM_FIELDS = 1000

# A verifier's ``body_format``: what its provider sends, so how a verified body is read.
JSON = "json"  # JSON only: read as JSON whatever Content-Type says
FORM = "form"  # form data only (a lone ``payload`` field is that JSON)
JSON_OR_FORM = "json_or_form"  # JSON, or form data when labelled so and not JSON itself
ANY = "any"  # by the Content-Type header: verifiers that declare nothing

__all__ = [
    "ANY",
    "FORM",
    "FORM_CONTENT_TYPE",
    "JSON",
    "JSON_CONTENT_TYPE",
    "JSON_OR_FORM",
    "MAX_DEPTH",
    "MalformedBody",
    "parse_body",
    "read_as",
]


class MalformedBody(ValueError):
    """A verified body that is not JSON (or form data), or is nested too deeply."""


def parse_body(body: bytes, content_type: str = "") -> Any:
    """The payload of a verified body, by its content type (JSON unless form-encoded)."""
    if _is_form(content_type):
        return parse_form(body)
    return parse_json(body)


def _is_form(content_type: str) -> bool:
    return content_type.partition(";")[0].strip().lower() == FORM_CONTENT_TYPE


def read_as(body_format: str, content_type: str, body: bytes) -> str:
    """The content type a verified body is parsed as, by its provider's ``body_format``.

    The label may be the sender's HTTP client's rather than the provider's (Python's
    urllib labels any body as a form): were a JSON provider's body read by its label,
    the same signed event sent under two labels would be two events, the second one
    mangled and without its id. ``json_or_form`` providers (GitHub's ``json`` and
    ``form`` content types; Slack's Events API, and its commands and interactivity)
    send form data labelled as such, and JSON as an object or an array: a body
    labelled as a form that is a JSON object or array is read as JSON.
    """
    if body_format == JSON:
        return JSON_CONTENT_TYPE
    if body_format == FORM:
        return FORM_CONTENT_TYPE
    if body_format == JSON_OR_FORM:
        labelled_form = _is_form(content_type)
        is_json = body.lstrip()[:1] in (b"{", b"[")
        return FORM_CONTENT_TYPE if labelled_form and not is_json else JSON_CONTENT_TYPE
    return content_type


def parse_json(data: bytes | str) -> Any:
    try:
        payload = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedBody("The body is nested too deeply.") from None
    except ValueError:  # also UnicodeDecodeError and JSONDecodeError
        raise MalformedBody("The body is not valid JSON.") from None
    if payload is None:
        raise MalformedBody("The body is JSON null.")
    if _may_be_too_deep(data) and json_values.deeper_than(payload, MAX_DEPTH):
        raise MalformedBody(f"The body is nested more than {MAX_DEPTH} levels deep.")
    return payload


def parse_form(body: bytes) -> Any:
    """Form fields as a dict; a form whose only field is ``payload`` is that JSON."""
    try:
        fields = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:  # not UTF-8, a bad percent-escape, too many fields
        raise MalformedBody("The body is not valid form data.") from None
    if not fields:
        raise MalformedBody("The form body has no fields.")
    form = dict(fields)
    if list(form) == ["payload"]:
        return parse_json(form["payload"])
    return form


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _may_be_too_deep(data: bytes | str) -> bool:
    """A cheap bound: fewer opening brackets than the limit cannot nest past it."""
    if isinstance(data, bytes):
        return data.count(b"[") + data.count(b"{") > MAX_DEPTH
    return data.count("[") + data.count("{") > MAX_DEPTH
