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
MAX_DEPTH = json_values.MAX_DEPTH
MAX_FORM_FIELDS = 1000

__all__ = ["FORM_CONTENT_TYPE", "MAX_DEPTH", "MalformedBody", "parse_body"]


class MalformedBody(ValueError):
    """A verified body that is not JSON (or form data), or is nested too deeply."""


def parse_body(body: bytes, content_type: str = "") -> Any:
    """The payload of a verified body, by its content type (JSON unless form-encoded)."""
    if content_type.partition(";")[0].strip().lower() == FORM_CONTENT_TYPE:
        return parse_form(body)
    return parse_json(body)


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
