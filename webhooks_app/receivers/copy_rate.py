"""How often a source's recent requests were copies of processed events.

Pure logic: no Django and no HTTP. The receiving view has two ways to take a
request, both exactly once (see :func:`webhooks_app.receivers.processing.receive`):

- straight to the upsert in a transaction: a new event costs five statements
  (``BEGIN``, upsert, the handler's, processed, ``COMMIT``), a copy of a
  processed event three (``BEGIN``, upsert, ``COMMIT``), the payload sent once
  more;
- a copy check first, one ``UPDATE`` in autocommit mode: a copy of a processed
  event costs that one statement, a new event six.

Measured under gunicorn on PostgreSQL (``benchmarks/receiver_speed.py``), the
check costs a new event about half of what it saves a copy (0.25 against 0.5
ms of CPU), so it pays when more than about a third of the requests are
copies: a sender's retries after an outage, not the everyday traffic. The
share is an exponential moving average per source, over about the last 16
requests, kept in each process; it only picks the cheaper way, never what
happens to an event.
"""

from __future__ import annotations

CHECK_FIRST_ABOVE = 1 / 3
"""The share of copies above which a request is checked for being one first."""

WEIGHT = 1 / 16
"""How much the latest request weighs in the average."""


class CopyRates:
    """Per source, the recent share of copies of processed events."""

    def __init__(self) -> None:
        self._shares: dict[str, float] = {}

    def check_first(self, source: str) -> bool:
        """Whether the next request of ``source`` is better checked for a copy first."""
        return self._shares.get(source, 0.0) > CHECK_FIRST_ABOVE

    def observe(self, source: str, *, copy: bool) -> None:
        share = self._shares.get(source, 0.0)
        self._shares[source] = share + ((1.0 if copy else 0.0) - share) * WEIGHT

    def reset(self) -> None:
        self._shares.clear()
