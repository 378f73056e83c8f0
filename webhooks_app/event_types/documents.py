"""The event-type catalog as documents for the people who receive the webhooks.

:func:`openapi_document` builds an OpenAPI 3.1 document whose ``webhooks`` section
has one operation per registered type (the request a receiver gets: the
Standard Webhooks headers and the ``{"type", "timestamp", "data"}`` body), from
which clients can generate code; :func:`markdown` is the same as a page to
read. ``manage.py webhooks_catalog`` prints either. Pure functions of the
catalog and the ``CATALOG_INFO`` setting: no models, no HTTP.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.utils.translation import gettext as _

from webhooks_app import conf, event_types
from webhooks_app.event_types import EventType

OPENAPI_VERSION = "3.1.0"
SCHEMAS = "#/components/schemas/"

# The values shown in examples: a fixed time, so that the document only changes
# when the catalog does.
EXAMPLE_TIMESTAMP = "2025-01-01T12:00:00.123456+00:00"
EXAMPLE_HEADERS = {
    "webhook-id": "msg_01jgmkb1m0p6w0c8kzsq7n2v4t",
    "webhook-timestamp": "1735732800",
    "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
}


def envelope(event_type: EventType, data: Any) -> dict:
    """The request body a receiver gets for ``data`` (what ``delivery`` sends)."""
    return {"type": event_type.name, "timestamp": EXAMPLE_TIMESTAMP, "data": data}


def info(*, title: str | None = None, version: str | None = None) -> dict:
    """The document's ``info``: the setting's keys over the defaults, then the arguments."""
    found = {**conf.DEFAULTS["CATALOG_INFO"], **conf.get("CATALOG_INFO")}
    if title:
        found["title"] = title
    if version:
        found["version"] = version
    return found


def openapi_document(
    types: list[EventType] | None = None, *, title: str | None = None, version: str | None = None
) -> dict:
    """An OpenAPI 3.1 document of ``types`` (every registered type by default)."""
    types = event_types.all() if types is None else types
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": info(title=title, version=version),
        "paths": {},
        "webhooks": {},
        "components": {"schemas": {}, "parameters": _header_parameters()},
    }
    document["info"].setdefault("description", _intro())
    operation_ids = _operation_ids([event_type.name for event_type in types])
    for event_type in types:
        data_schema: dict = {}
        if event_type.schema is not None:
            pointer = SCHEMAS + event_type.name
            document["components"]["schemas"][event_type.name] = _relocated(
                event_type.schema, pointer
            )
            data_schema = {"$ref": pointer}
        document["webhooks"][event_type.name] = {
            "post": _operation(event_type, operation_ids[event_type.name], data_schema)
        }
    return document


def _operation(event_type: EventType, operation_id: str, data_schema: dict) -> dict:
    media: dict[str, Any] = {"schema": _envelope_schema(event_type, data_schema)}
    if event_type.example is not None:
        media["example"] = envelope(event_type, event_type.example)
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": _summary(event_type),
        "parameters": [
            {"$ref": f"#/components/parameters/{_parameter_key(name)}"} for name in EXAMPLE_HEADERS
        ],
        "requestBody": {"required": True, "content": {"application/json": media}},
        "responses": {
            "2XX": {"description": _("Accepted: the webhook is delivered and not sent again.")},
            "410": {
                "description": _(
                    "Gone: the endpoint is disabled and receives nothing more until it is "
                    "enabled again."
                )
            },
            "default": {
                "description": _(
                    "408, 425, 429 and 5xx answers, timeouts and connection errors are "
                    "retried later (a Retry-After header is honoured); other answers "
                    "fail the delivery."
                )
            },
        },
    }
    if event_type.description:
        operation["description"] = event_type.description
    if event_type.deprecated:
        operation["deprecated"] = True
    return operation


def _envelope_schema(event_type: EventType, data_schema: dict) -> dict:
    return {
        "type": "object",
        "properties": {
            "type": {"type": "string", "const": event_type.name},
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": _("When the event happened (ISO 8601)."),
            },
            "data": {**data_schema, "description": _("The event's payload.")},
        },
        "required": ["type", "timestamp", "data"],
    }


def _header_descriptions() -> dict[str, str]:
    return {
        "webhook-id": _(
            "The event's unique id: the same on every retry, so that duplicates can be recognised."
        ),
        "webhook-timestamp": _("When this attempt was signed, in seconds since the Unix epoch."),
        "webhook-signature": _(
            'Space-separated "v1,<base64>" HMAC-SHA256 signatures of '
            '"{webhook-id}.{webhook-timestamp}.{body}" (Standard Webhooks); one of them '
            "matches your endpoint's secret."
        ),
    }


def _header_parameters() -> dict:
    descriptions = _header_descriptions()
    return {
        _parameter_key(name): {
            "name": name,
            "in": "header",
            "required": True,
            "description": descriptions[name],
            "schema": {"type": "string"},
            "example": example,
        }
        for name, example in EXAMPLE_HEADERS.items()
    }


def _parameter_key(header: str) -> str:
    return header.replace("-", "_")


def _intro() -> str:
    return _(
        "Each webhook is an HTTP POST whose JSON body holds the event type (`type`), when "
        "the event happened (`timestamp`) and its payload (`data`), signed as Standard "
        "Webhooks describes (https://www.standardwebhooks.com/): verify the "
        "`webhook-signature` header with your endpoint's secret before trusting the body. "
        "A webhook may arrive more than once: the `webhook-id` header tells duplicates apart."
    )


def _summary(event_type: EventType) -> str:
    first_line = event_type.description.strip().split("\n", 1)[0].strip()
    return first_line or event_type.name


def _operation_ids(names: list[str]) -> dict[str, str]:
    """``order.paid`` → ``orderPaid``; a clash (``a.b_c`` and ``a_b.c``) gets a number."""
    found: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        first, *rest = re.split(r"[._]+", name)
        base = first + "".join(part[:1].upper() + part[1:] for part in rest)
        candidate, number = base, 2
        while candidate in taken:
            candidate, number = f"{base}{number}", number + 1
        taken.add(candidate)
        found[name] = candidate
    return found


def _relocated(schema: Any, pointer: str, *, root: bool = True) -> Any:
    """The schema with its local references (``#/$defs/...``) pointing where it now lives.

    The root's ``$id`` is left out, so that every reader resolves those references
    within the document (few OpenAPI tools honour ``$id``). A nested schema with an
    ``$id`` is a resource of its own: references in it resolve against that id and
    are left alone.
    """
    if isinstance(schema, list):
        return [_relocated(item, pointer, root=False) for item in schema]
    if not isinstance(schema, dict) or ("$id" in schema and not root):
        return schema
    moved = {
        key: _relocated(value, pointer, root=False)
        for key, value in schema.items()
        if not (root and key == "$id")
    }
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        moved["$ref"] = pointer + ref[1:]
    return moved


# --- Markdown --------------------------------------------------------------------------


def markdown(
    types: list[EventType] | None = None, *, title: str | None = None, version: str | None = None
) -> str:
    """A Markdown page of ``types`` (every registered type by default)."""
    types = event_types.all() if types is None else types
    details = info(title=title, version=version)
    lines = [f"# {details['title']}", "", _("Version %(version)s.") % details, "", _intro(), ""]
    body = json.dumps(
        {"type": "…", "timestamp": EXAMPLE_TIMESTAMP, "data": {}}, indent=2, ensure_ascii=False
    )
    lines += [_("The body of every webhook:"), "", "```json", body, "```", ""]
    lines += [_("Its headers:"), ""]
    lines += [f"- `{name}`: {text}" for name, text in _header_descriptions().items()]
    lines.append("")
    if not types:
        return "\n".join([*lines, _("No event types are registered."), ""])
    lines += [f"## {_('Event types')}", ""]
    for event_type in types:
        note = f" ({_('deprecated')})" if event_type.deprecated else ""
        lines.append(f"- [`{event_type.name}`](#{_anchor(event_type.name)}){note}")
    lines.append("")
    for event_type in types:
        lines += _markdown_section(event_type)
    return "\n".join(lines)


def _markdown_section(event_type: EventType) -> list[str]:
    lines = [f"## `{event_type.name}`", ""]
    if event_type.deprecated:
        note = _("Deprecated: this type will be removed; stop relying on it.")
        lines += [f"> **{note}**", ""]
    if event_type.description:
        lines += [event_type.description.strip(), ""]
    lines += [f"### {_('Payload schema')}", ""]
    if event_type.schema is None:
        lines += [_("No schema: `data` may be any JSON value."), ""]
    else:
        lines += _json_block(event_type.schema)
    if event_type.example is not None:
        lines += [f"### {_('Example')}", ""]
        lines += _json_block(envelope(event_type, event_type.example))
    return lines


def _json_block(value: Any) -> list[str]:
    return ["```json", json.dumps(value, indent=2, ensure_ascii=False), "```", ""]


def _anchor(name: str) -> str:
    """The anchor GitHub gives a heading of ``name`` in backticks: dots dropped."""
    return name.lower().replace(".", "")
