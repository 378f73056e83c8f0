"""The HTTP side of sending: the clients (:mod:`.client` for a thread,
:mod:`.async_client` for an event loop), the SSRF guard (:mod:`.addresses`) and the
per-request deadline (:mod:`.deadline`).

No models and no settings here: callers pass what the request needs.
"""

from webhooks_app.transport.async_client import AsyncClient
from webhooks_app.transport.client import (
    NOT_SENT,
    DeadlinePassed,
    Response,
    get_pool_manager,
    post,
    resolve_allowed,
)

__all__ = [
    "NOT_SENT",
    "AsyncClient",
    "DeadlinePassed",
    "Response",
    "get_pool_manager",
    "post",
    "resolve_allowed",
]
