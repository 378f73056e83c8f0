"""JSON values that every database can store and our code can walk: pure checks.

Customer JSON (the tenant API's bodies, a test event's payload) and verified
inbound bodies are checked here before they reach a ``jsonb`` column or a
recursive walk. PostgreSQL refuses a NUL character and a lone surrogate in
JSON text (``DataError``), and UTF-8 cannot encode the surrogate anywhere; deep
nesting ends in a ``RecursionError`` when the value is serialised or validated.
No Django, no HTTP: :mod:`webhooks_app.validators` words the problems for people.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

MAX_DEPTH = 128  # arrays and objects inside each other; real payloads nest a dozen deep

# After json.loads a valid surrogate pair is one code point: any surrogate left is alone.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class Problem(StrEnum):
    """Why a JSON value cannot be taken."""

    NUL = "nul"
    SURROGATE = "surrogate"
    TOO_DEEP = "too_deep"


def problem(value: Any, *, max_depth: int = MAX_DEPTH, nul: bool = True) -> Problem | None:
    """What makes ``value`` unstorable or too deep, or None; walked without recursion.

    ``nul=False`` lets NUL characters pass (for values whose fields refuse them one by one).
    """
    unstorable = _UNSTORABLE if nul else _SURROGATE
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            found = _text_problem(item, unstorable)
            if found:
                return found
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return Problem.TOO_DEEP
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (walked without recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _text_problem(text: str, unstorable: re.Pattern[str]) -> Problem | None:
    match = unstorable.search(text)
    if match is None:
        return None
    return Problem.NUL if match.group() == "\x00" else Problem.SURROGATE
