"""Validators for the ``WEBHOOKS`` keys: each says what is wrong with a value, or None.

They return the problem instead of raising, so that the system checks can report every
bad key at once. A :class:`Rule` pairs a yes/no test with the words for what it expects;
the system check's message reads ``WEBHOOKS['KEY'] must be <expected>; got <value>.``
"""

from __future__ import annotations

import ipaddress
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Rule:
    """A validator made of a test and what the test expects, in words."""

    test: Callable[[Any], bool]
    expected: str

    def __call__(self, value: Any) -> str | None:
        return None if self.test(value) else f"must be {self.expected}"


def optional(rule: Rule) -> Rule:
    """``rule``, or None."""
    return Rule(lambda value: value is None or rule.test(value), f"None or {rule.expected}")


def is_number(value: Any, minimum: float = 0, *, strict: bool = False) -> bool:
    """An int or a float (not a bool, not NaN) of at least ``minimum``, or above it if strict."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return value > minimum if strict else value >= minimum


def is_whole(value: Any, minimum: int = 0) -> bool:
    """An int (not a bool) of at least ``minimum``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def is_positive_number(value: Any) -> bool:
    return is_number(value, strict=True)


def is_positive_whole(value: Any) -> bool:
    return is_whole(value, 1)


def is_boolean(value: Any) -> bool:
    return isinstance(value, bool)


def is_text(value: Any) -> bool:
    """A non-empty string."""
    return isinstance(value, str) and value != ""


def is_list_of_strings(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)


def is_schedule(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(is_number(delay) for delay in value)


def is_timeout(value: Any) -> bool:
    """A positive number, or a (connect, read) pair of them."""
    if is_positive_number(value):
        return True
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(is_positive_number(part) for part in value)
    )


def is_networks(value: Any) -> bool:
    if not isinstance(value, list | tuple):
        return False
    try:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
    except (TypeError, ValueError):
        return False
    return True


def is_share(value: Any) -> bool:
    """A number strictly between 0 and 1."""
    return is_positive_number(value) and value < 1


def is_rate(value: Any) -> bool:
    """A number above 0 and at most 1."""
    return is_positive_number(value) and value <= 1


def is_callable_path(value: Any) -> bool:
    """The dotted path of something callable that imports."""
    if not isinstance(value, str):
        return False
    try:
        return callable(import_string(value))
    except ImportError:
        return False


def is_alert_link(value: Any) -> bool:
    """A URL whose only placeholders are {endpoint_id} and {tenant}."""
    if not is_text(value):
        return False
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
    except ValueError:
        return False
    return all(field in ("endpoint_id", "tenant") for field in fields)


def is_catalog_info(value: Any) -> bool:
    """A partial OpenAPI info object: string keys; title and version, if given, non-empty."""
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        return False
    return all(is_text(value[key]) for key in ("title", "version") if key in value)


def is_metrics_token(value: Any) -> bool:
    return isinstance(value, str) and len(value) >= 16


SECONDS = Rule(is_number, "a non-negative number of seconds")
POSITIVE_SECONDS = Rule(is_positive_number, "a positive number of seconds")
POSITIVE_WHOLE = Rule(is_positive_whole, "a positive whole number")
BOOLEAN = Rule(is_boolean, "True or False")
RATE = Rule(is_rate, "a number above 0 and at most 1")
