"""The sweep: recover from the database what the broker lost.

It fans out events left unexpanded and sends a wake-up for each batch of
deliveries that is claimable now. Safe with many sweepers and workers at once:
a wake-up that finds nothing to claim is a no-op.
"""

from __future__ import annotations

from datetime import datetime
from math import ceil

from django.utils import timezone

from webhooks_app import conf
from webhooks_app.sending import due, fanout
from webhooks_app.wakeups import wake_up

MAX_SWEEP_WAKE_UPS = 32
"""Wake-ups one sweep sends at most: each run drains all due work anyway."""


def sweep(now: datetime | None = None) -> int:
    """Fan out events left unexpanded and wake workers for claimable deliveries; returns how
    many are claimable."""
    now = now or timezone.now()
    fanout.expand_pending(now)
    batch = conf.get("BATCH_SIZE")
    claimable = due.count_claimable(now, limit=MAX_SWEEP_WAKE_UPS * batch)
    for _ in range(min(MAX_SWEEP_WAKE_UPS, ceil(claimable / batch))):
        wake_up()
    return claimable
