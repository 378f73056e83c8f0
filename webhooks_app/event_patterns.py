"""Which event types an endpoint's patterns select. Pure: no Django.

A pattern is an event type (``order.paid``), a prefix wildcard (``order.*``) or
``*``; an empty list selects every type. What a valid pattern is, is
:func:`webhooks_app.validators.event_type_problem`'s business; this module reads
whatever is stored, valid or not, without raising.
"""

from __future__ import annotations


def event_type_matches(patterns: list[str], event_type: str) -> bool:
    """An empty list matches everything; ``"order.*"`` matches ``"order.paid"``."""
    if not patterns:
        return True
    if isinstance(patterns, str):  # a single pattern stored without its list
        patterns = [patterns]
    if not isinstance(patterns, list):  # stored past validation: matches nothing
        return False
    return any(
        isinstance(pattern, str)
        and (
            pattern == event_type
            or pattern == "*"
            or (pattern.endswith(".*") and event_type.startswith(pattern[:-1]))
        )
        for pattern in patterns
    )
