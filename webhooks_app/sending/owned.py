"""What an engine run knows of each endpoint it owns: its deliveries held, its pace.

The run (:mod:`webhooks_app.sending.engine`) leases ahead for an endpoint from
these figures: its allowed requests in flight plus about :data:`AHEAD_SECONDS`
of its recent pace, so a queued delivery is sent long before its lease runs short.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from webhooks_app import conf
from webhooks_app.models import Endpoint
from webhooks_app.sending import due

AHEAD_SECONDS = 0.25
"""A lane's queue holds about this many seconds of its recent pace (no more than
:data:`AHEAD_PER_SLOT` per allowed request), so that a queued delivery is sent long
before its lease runs short, even at a slow endpoint."""

AHEAD_PER_SLOT = 4


@dataclass
class Owned:
    """An endpoint this run owns, as this thread sees it."""

    endpoint: Endpoint
    held: int = 0  # leased deliveries handed to its lane and not back yet
    finished: deque[float] = field(default_factory=deque)  # when its recent tries ended
    idle_since: float | None = None

    def allowed(self) -> int:
        return due.allowed_in_flight(self.endpoint, conf.get("MAX_IN_FLIGHT_PER_ENDPOINT"))

    def ahead(self, now: float) -> int:
        """How many to keep queued beyond the allowed requests: its recent pace."""
        while self.finished and now - self.finished[0] > 1.0:
            self.finished.popleft()
        allowed = self.allowed()
        if self.endpoint.circuit_opened_at is not None:
            return 0
        if not self.finished:
            return allowed  # no pace known yet
        return min(AHEAD_PER_SLOT * allowed, int(len(self.finished) * AHEAD_SECONDS))

    def target(self, now: float) -> int:
        return self.allowed() + self.ahead(now)

    def low(self, now: float) -> bool:
        return self.held < self.allowed() + self.ahead(now) // 2


def ready(endpoint: Endpoint, now: datetime) -> bool:
    """Active and not paused: the run leases for it."""
    return endpoint.is_active and (endpoint.paused_until is None or endpoint.paused_until <= now)
