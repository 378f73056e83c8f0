"""Value types of the sending engine: one finished try, and what it did once recorded.

Pure: no queries and no I/O, so that the engine, recording, logs and tracing can
all name them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from webhooks_app import retry
    from webhooks_app.models import Attempt, Delivery
    from webhooks_app.sending.alerts import Alert
    from webhooks_app.transport import Response


@dataclass(frozen=True)
class Result:
    """One finished try: the delivery as claimed, what came back, and what it means."""

    delivery: Delivery
    response: Response
    decision: retry.Decision
    manual: bool = False


@dataclass(frozen=True)
class Outcome:
    """What one try did, once recorded."""

    attempt: Attempt
    decision: retry.Decision
    disable_reason: str = ""  # set when this try disabled the endpoint
    alert: Alert | None = None  # set when this try's streak is to alert the owner
