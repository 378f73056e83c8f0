"""The event-type catalog: the types a project sends, declared in code like signals.

::

    # myapp/webhooks.py (imported by webhooks_app's AppConfig.ready(), like admin.py)
    from webhooks_app import event_types

    event_types.register(
        "order.paid",
        description="An order was paid in full.",
        schema={"type": "object", "properties": {"order_id": {"type": "integer"}},
                "required": ["order_id"]},
        example={"order_id": 42},
    )

Everything is checked when a type is registered, so a mistake stops the project
at start-up (:class:`~django.core.exceptions.ImproperlyConfigured`) rather than
when an event is sent: the name follows the Standard Webhooks advice
(dot-separated segments of ``[a-zA-Z0-9_]``), the schema is a valid JSON Schema
(Draft 2020-12 unless its ``$schema`` names another draft) and the example
matches it. Registering the same name again with the same arguments is
harmless (a module may be imported twice); with other arguments it is an error.

The catalog describes; it never refuses an event by itself. With
``WEBHOOKS["VALIDATE_PAYLOADS"] = True``, ``send_event`` refuses payloads that
a registered type's schema refuses (:func:`validate_payload`); types that are
not registered are always accepted.

This module knows nothing of models or HTTP, and imports ``jsonschema`` only
when a schema is checked, so that ``webhooks_app`` can export
:class:`InvalidPayload` at no cost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from webhooks_app import json_values

__all__ = [
    "EventType",
    "InvalidPayload",
    "all",
    "deprecated_in",
    "get",
    "register",
    "validate_payload",
]

# Standard Webhooks: "event types ... dot-delimited ... [a-zA-Z0-9_.]"; no empty segment.
NAME = re.compile(r"[a-zA-Z0-9_]+(?:\.[a-zA-Z0-9_]+)*\Z")
MAX_NAME_LENGTH = 255  # Event.event_type's max_length

# Characters of a validation message kept in InvalidPayload (a message may quote a
# whole object of the payload).
MAX_DETAIL = 300


class InvalidPayload(ValueError):
    """A registered type's schema refuses an event's payload.

    ``path`` is where in the payload the first problem is (``$.items[0].price``),
    ``detail`` what the schema says about it.
    """

    def __init__(self, event_type: str, path: str, detail: str) -> None:
        self.event_type, self.path, self.detail = event_type, path, detail
        super().__init__(
            f"The payload of a {event_type!r} event does not match its schema at {path}: {detail}"
        )


@dataclass(frozen=True)
class EventType:
    """One registered type. ``schema`` and ``example`` are JSON values, copied at
    registration: treat them as read-only."""

    name: str
    description: str = ""
    schema: dict | None = None
    example: Any = None
    deprecated: bool = False

    def __hash__(self) -> int:  # the dict fields are not hashable; names are unique
        return hash(self.name)


_registry: dict[str, EventType] = {}
# Each type's schema compiled once, on its first validation: {name: (type, validator)}.
_compiled: dict[str, tuple[EventType, Any]] = {}


def register(
    name: str,
    *,
    description: str = "",
    schema: dict | None = None,
    example: Any = None,
    deprecated: bool = False,
) -> EventType:
    """Add a type to the catalog and return it; see the module's docstring.

    Raises ``ImproperlyConfigured`` for a bad name, an invalid schema, an example
    the schema refuses, or a name already registered with other arguments.
    """
    check_name(name)
    if not isinstance(description, str):
        raise ImproperlyConfigured(f"The description of event type {name!r} must be a string.")
    if schema is not None:
        if not isinstance(schema, dict):
            raise ImproperlyConfigured(
                f"The schema of event type {name!r} must be a JSON Schema object (a dict)."
            )
        schema = _json_copy(schema, name, "schema")
        _check_schema(name, schema)
    if example is not None:
        example = _json_copy(example, name, "example")
        if schema is not None:
            problem = _first_problem(schema, example)
            if problem:
                path, detail = problem
                raise ImproperlyConfigured(
                    f"The example of event type {name!r} does not match its schema at "
                    f"{path}: {detail}"
                )
    event_type = EventType(name, description, schema, example, bool(deprecated))
    registered = _registry.setdefault(name, event_type)
    if registered != event_type:
        raise ImproperlyConfigured(
            f"Event type {name!r} is already registered with other arguments; "
            "each type is registered once."
        )
    return registered


def check_name(name: Any) -> None:
    """Refuse a name that is not dot-separated segments of ``[a-zA-Z0-9_]``."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ImproperlyConfigured(
            f"Event type name {name!r} is not dot-separated segments of letters, digits "
            'and underscores, such as "order.paid" (the Standard Webhooks advice).'
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ImproperlyConfigured(
            f"Event type name {name[:40]!r}… is longer than {MAX_NAME_LENGTH} characters."
        )


def get(name: str) -> EventType | None:
    """The registered type of that name, or None."""
    return _registry.get(name)


def all() -> list[EventType]:
    """Every registered type, sorted by name (``all`` as in ``QuerySet.all()``)."""
    return [_registry[name] for name in sorted(_registry)]


def deprecated_in(event_types: Iterable[str] | None) -> list[str]:
    """The deprecated registered types that a list of event types (an endpoint's) names.

    Only names count: a wildcard (``order.*``) or an empty list (every type) asks
    for whatever exists and is not flagged.
    """
    if not isinstance(event_types, list | tuple):
        return []
    named = [name for name in event_types if isinstance(name, str)]
    return [
        name
        for name in dict.fromkeys(named)
        if (found := _registry.get(name)) is not None and found.deprecated
    ]


def validate_payload(event_type: str, payload: Any) -> None:
    """Raise :class:`InvalidPayload` if ``event_type`` is registered with a schema that
    refuses ``payload``; do nothing otherwise.

    The payload is checked as it will be sent: encoded to JSON as events are
    (dates and decimals become strings). Encoding and validating recurse (a schema
    that refers to itself takes several Python frames per level), so a payload nested
    more than :data:`webhooks_app.json_values.MAX_DEPTH` levels deep is refused before
    either, and one that exhausts Python's recursion all the same is refused too.
    """
    registered = _registry.get(event_type)
    if registered is None or registered.schema is None:
        return
    from django.core.serializers.json import DjangoJSONEncoder

    if json_values.deeper_than(payload):
        detail = f"the payload is nested more than {json_values.MAX_DEPTH} levels deep"
        raise InvalidPayload(event_type, "$", detail)
    try:
        sent = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
        problem = _first_problem(registered.schema, sent, _validator(registered))
    except RecursionError:
        raise InvalidPayload(event_type, "$", "the payload is nested too deeply") from None
    if problem:
        raise InvalidPayload(event_type, *problem)


# --- the registry, for webhooks_app.testing ------------------------------------------


def _snapshot() -> dict[str, EventType]:
    return dict(_registry)


def _restore(snapshot: dict[str, EventType]) -> None:
    _registry.clear()
    _registry.update(snapshot)


# --- JSON Schema ---------------------------------------------------------------------


def _json_copy(value: Any, name: str, what: str) -> Any:
    """A deep copy made of JSON types only (tuples become lists): what is published."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"The {what} of event type {name!r} is not plain JSON: {exc}"
        ) from None


def _validator_class(schema: dict) -> Any:
    from jsonschema import Draft202012Validator, validators

    unknown: Any = object()
    found = validators.validator_for(schema, default=unknown)
    if found is unknown:
        return Draft202012Validator if "$schema" not in schema else None
    return found


def _check_schema(name: str, schema: dict) -> None:
    from jsonschema.exceptions import SchemaError

    validator_class = _validator_class(schema)
    if validator_class is None:
        raise ImproperlyConfigured(
            f"The schema of event type {name!r} names an unknown $schema "
            f"({schema['$schema']!r}); leave it out for Draft 2020-12."
        )
    try:
        validator_class.check_schema(schema)
    except SchemaError as exc:
        raise ImproperlyConfigured(
            f"The schema of event type {name!r} is not a valid JSON Schema at "
            f"{exc.json_path}: {_short(exc.message)}"
        ) from None


def _validator(event_type: EventType):
    """The compiled validator of a registered type's schema."""
    compiled = _compiled.get(event_type.name)
    if compiled is None or compiled[0] is not event_type:
        schema = event_type.schema or {}
        compiled = (event_type, _validator_class(schema)(schema))
        _compiled[event_type.name] = compiled
    return compiled[1]


def _first_problem(schema: dict, instance: Any, validator=None) -> tuple[str, str] | None:
    """(JSON path, message) of the most relevant error, or None when valid.

    ``format`` is an annotation, as JSON Schema 2020-12 has it by default, so the
    outcome does not depend on which optional format checkers are installed.
    """
    from jsonschema.exceptions import best_match

    validator = validator or _validator_class(schema)(schema)
    error = best_match(validator.iter_errors(instance))
    if error is None:
        return None
    return error.json_path, _short(error.message)


def _short(message: str) -> str:
    return message if len(message) <= MAX_DETAIL else message[: MAX_DETAIL - 1] + "…"
