"""The event-type catalog (:mod:`.registry`) and its documents (:mod:`.documents`).

``from webhooks_app import event_types; event_types.register(...)`` is the public
way in; the names below are the registry's.
"""

from webhooks_app.event_types.registry import (
    NAME,
    EventType,
    InvalidPayload,
    all,
    check_name,
    deprecated_in,
    get,
    register,
    validate_payload,
)

__all__ = [
    "NAME",
    "EventType",
    "InvalidPayload",
    "all",
    "check_name",
    "deprecated_in",
    "get",
    "register",
    "validate_payload",
]
