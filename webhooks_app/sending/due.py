"""When a delivery is due, and when it is claimable: the one definition, in SQL.

- **due**: pending, the time of its next try has come, no worker holds it (no
  lease, or its lease ran out), it is the head of its ordering key (no earlier
  delivery or event of its key is still pending: :data:`HEAD`), and its
  endpoint is active and not paused (a 429, an open circuit, a rate limit or
  an operator's pause all set ``paused_until``);
- **in flight**: pending and leased until a time still to come (a worker is
  sending it);
- **claimable**: due, and its endpoint has room (:func:`allowed_in_flight`):
  fewer requests in flight than ``WEBHOOKS["MAX_IN_FLIGHT_PER_ENDPOINT"]``,
  than a tenth of its ``rate_limit`` (rounded up), and none at all while its
  circuit is open (one probe at a time).

A claim takes claimable deliveries only (:mod:`webhooks_app.sending.claim_sql`
builds on the fragments below); the sweep wakes workers for claimable ones; a
run that is out of time hands over when any is left; the lag gauge measures
the oldest due one. Each of them reads the SQL here, so they agree.

Fragments refer to the delivery as ``d`` and its endpoint as ``ep``, and take
named parameters (:meth:`Due.params`); both backends Django supports here
(PostgreSQL and SQLite) accept ``%(name)s``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from math import ceil
from typing import Any

from django.db import connection
from django.utils import timezone

from webhooks_app import conf
from webhooks_app.db import rows
from webhooks_app.models import Delivery, Endpoint, OutboxEntry

PENDING = Delivery.Status.PENDING.value

UNHELD_AND_TIME = (
    "d.next_attempt_at <= %(now)s AND (d.locked_until IS NULL OR d.locked_until <= %(now)s)"
)
"""The time of the delivery ``d``'s next try has come and no worker holds it."""


def _before_d(alias: str) -> str:
    """The row ``alias`` comes before the delivery ``d`` in its key's order: a lower
    sequence, or the same one (two processes' clocks agreeing to the nanosecond) and
    a lower event id."""
    return (
        f"{alias}.sequence <= d.sequence"
        f" AND ({alias}.sequence < d.sequence OR {alias}.event_id < d.event_id)"
    )


HEAD = (
    "(d.ordering_key = ''"
    " OR (NOT EXISTS ("
    f"SELECT 1 FROM {Delivery._meta.db_table} k"
    " WHERE k.endpoint_id = d.endpoint_id AND k.ordering_key = d.ordering_key"
    f" AND k.status = '{PENDING}' AND NOT (k.ordering_key = '') AND {_before_d('k')})"
    " AND NOT EXISTS ("
    f"SELECT 1 FROM {OutboxEntry._meta.db_table} o"
    f" WHERE o.tenant = (SELECT t.tenant FROM {Endpoint._meta.db_table} t"
    " WHERE t.id = d.endpoint_id)"
    " AND o.ordering_key = d.ordering_key AND NOT (o.ordering_key = '')"
    f" AND {_before_d('o')})))"
)
"""The delivery ``d`` is the head of its ordering key (:mod:`webhooks_app.sending.ordering`),
or has no key (one cheap test then).

The head: no other pending delivery to the same endpoint with the same key
comes before it (one in flight or waiting for a retry holds the key), and no
event of the endpoint's tenant with that key, still to be fanned out, does.
Each test reads a few entries of a partial index (``webhooks_delivery_key``,
``webhooks_outbox_key``), whose conditions the fragment repeats word for word
so that both databases' planners use them."""

DUE = f"d.status = %(pending)s AND {UNHELD_AND_TIME} AND {HEAD}"
"""The delivery ``d`` is due, as far as the delivery rows and the outbox say: pending, its
time come, unheld, and the head of its ordering key."""

ENDPOINT_READY = (
    "ep.is_active = %(active)s AND (ep.paused_until IS NULL OR ep.paused_until <= %(now)s)"
)
"""Its endpoint ``ep`` takes requests now."""

ENDPOINT_ACTIVE = "ep.is_active = %(active)s"
"""Its endpoint ``ep`` is active (an operator's "send now" goes through a pause)."""

ENDPOINT_UNOWNED = "(ep.owned_until IS NULL OR ep.owned_until <= %(now)s)"
"""No worker owns its endpoint ``ep`` (or its ownership ran out): a live owner sends
its endpoint's deliveries itself (:mod:`webhooks_app.sending.ownership`)."""

ENDPOINT_OWNED_BY = "ep.owner = %(owner)s AND ep.owned_until > %(now)s"
"""The worker ``%(owner)s`` owns its endpoint ``ep``."""

IN_FLIGHT = "l.status = %(pending)s AND l.locked_until > %(now)s"
"""The delivery ``l`` is in flight: a worker is sending it (read through the partial index
of leased deliveries, ``webhooks_delivery_in_flight``: few, whatever the backlog)."""


RATE_LIMIT_SLICES = 10
"""A rate-limited endpoint has room for a tenth of a second's worth of requests at once."""


def allowed_in_flight(endpoint: Endpoint, cap: int) -> int:
    """Requests ``endpoint`` may have in flight at once: the cap, one probe while its
    circuit is open, and no more than a slice of its rate limit."""
    allowed = 1 if endpoint.circuit_opened_at is not None else cap
    if endpoint.rate_limit:
        allowed = min(allowed, ceil(endpoint.rate_limit / RATE_LIMIT_SLICES))
    return allowed


def full_endpoints() -> str:
    """The endpoints with no room: as many requests in flight as
    :func:`allowed_in_flight` lets them have."""
    rate_slice = f"(NULLIF(le.rate_limit, 0) + {RATE_LIMIT_SLICES - 1}) / {RATE_LIMIT_SLICES}"
    return (
        f"SELECT l.endpoint_id FROM {rows.table(Delivery)} l"
        f" JOIN {rows.table(Endpoint)} le ON le.id = l.endpoint_id"
        f" WHERE {IN_FLIGHT} GROUP BY l.endpoint_id"
        " HAVING COUNT(*) >= %(cap)s OR MIN(le.circuit_opened_at) IS NOT NULL"
        f" OR COUNT(*) >= MIN({rate_slice})"
    )


@dataclass(frozen=True)
class Due:
    """What a claim looks for: claimable at ``now`` with at most ``cap`` in flight per
    endpoint; ``only``: just these deliveries, through a paused endpoint too; ``owner``:
    the deliveries of the endpoints that worker owns (else: of unowned endpoints)."""

    now: datetime
    cap: int
    only: Collection[int] | None = None
    owner: str | None = None

    @classmethod
    def at(
        cls,
        now: datetime | None = None,
        *,
        only: Collection[int] | None = None,
        owner: str | None = None,
    ) -> Due:
        """At ``now`` (default: now), with the configured per-endpoint cap."""
        return cls(now or timezone.now(), conf.get("MAX_IN_FLIGHT_PER_ENDPOINT"), only, owner)

    def params(self) -> dict[str, Any]:
        """The named parameters of every fragment of this module."""
        return {
            "pending": PENDING,
            "now": rows.adapt(self.now),
            "active": True,
            "cap": self.cap,
            "owner": self.owner or "",
            **in_list_params("only", self.only or ()),
        }

    def endpoint_condition(self) -> str:
        """Ready endpoints, unowned or owned by :attr:`owner`; for an ``only`` claim, active
        unowned ones and the listed deliveries."""
        if self.owner is not None:
            return f"{ENDPOINT_READY} AND {ENDPOINT_OWNED_BY}"
        if self.only is None:
            return f"{ENDPOINT_READY} AND {ENDPOINT_UNOWNED}"
        return (
            f"{ENDPOINT_ACTIVE} AND {ENDPOINT_UNOWNED} AND d.id IN ({in_list('only', self.only)})"
        )


def in_list(name: str, values: Collection[Any]) -> str:
    """``%(name_0)s, %(name_1)s, …`` for an ``IN (…)`` of ``values`` (``NULL``, which
    matches nothing, when there are none)."""
    if not values:
        return "NULL"
    return ", ".join(f"%({name}_{index})s" for index in range(len(values)))


def in_list_params(name: str, values: Iterable[Any]) -> dict[str, Any]:
    """The parameters of :func:`in_list`."""
    return {f"{name}_{index}": value for index, value in enumerate(values)}


def claimable(due: Due) -> str:
    """``SELECT`` the claimable deliveries' ``id, endpoint_id, next_attempt_at,
    locked_until``, oldest first, at most ``%(count)s`` of them.

    Leaving the endpoints with no room out keeps a backlog of one from filling
    the claim's candidates, so the others' due deliveries are found.
    """
    return (
        "SELECT d.id, d.endpoint_id, d.next_attempt_at, d.locked_until"
        f" FROM {rows.table(Delivery)} d JOIN {rows.table(Endpoint)} ep ON ep.id = d.endpoint_id"
        f" WHERE {DUE} AND {due.endpoint_condition()}"
        f" AND d.endpoint_id NOT IN ({full_endpoints()})"
        " ORDER BY d.next_attempt_at, d.id LIMIT %(count)s"
    )


def count_claimable(now: datetime | None = None, *, limit: int) -> int:
    """How many deliveries are claimable now, counting up to ``limit``."""
    due = Due.at(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM ({claimable(due)}) c", {**due.params(), "count": limit}
        )
        return cursor.fetchone()[0]


def any_claimable(now: datetime | None = None) -> bool:
    """Whether any delivery is claimable now."""
    return count_claimable(now, limit=1) > 0


def oldest_due_at(now: datetime | None = None) -> datetime | None:
    """When the oldest due delivery fell due (None when none is): how far behind sending is.

    Due, not claimable: a delivery waiting for room at its endpoint is late all the same.
    The oldest first, by the due index, stopping at the first that is due: ``MIN()``
    over a join would read every due row (and test each keyed one's turn).
    """
    due = Due.at(now)
    sql = (
        f"SELECT d.next_attempt_at FROM {rows.table(Delivery)} d"
        f" JOIN {rows.table(Endpoint)} ep ON ep.id = d.endpoint_id"
        f" WHERE {DUE} AND {ENDPOINT_READY} ORDER BY d.next_attempt_at, d.id LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, due.params())
        row = cursor.fetchone()
    return None if row is None else rows.value(Delivery, "next_attempt_at", row[0])


def seconds_until_next(now: datetime | None = None) -> float | None:
    """Seconds until a delivery is claimable: 0 when one is now, else until the next
    pending one falls due; None when none will.

    A delivery falls due at its ``next_attempt_at`` or, when its endpoint is
    paused beyond that, when the pause ends. Deliveries due now at an endpoint
    with no room are not counted: the worker keeping that endpoint busy claims
    them when its requests are done; nor are those of an endpoint another
    worker owns: its owner sends them; nor those waiting behind an earlier one
    of their ordering key: they fall due when it is done.
    """
    due = Due.at(now)
    if any_claimable(due.now):
        return 0.0
    # Two cases, each read in an index's order rather than over every pending row
    # (retries scheduled for later pile up): the first delivery due later at an
    # endpoint not paused beyond it, and the first pause to end at an endpoint
    # with a delivery waiting for it.
    delivery, endpoint = rows.table(Delivery), rows.table(Endpoint)
    unleased = "d.status = %(pending)s AND (d.locked_until IS NULL OR d.locked_until <= %(now)s)"
    sql = (
        "SELECT MIN(u.at) FROM ("
        " SELECT f.at FROM ("
        f"  SELECT d.next_attempt_at AS at FROM {delivery} d"
        f"  JOIN {endpoint} ep ON ep.id = d.endpoint_id"
        f"  WHERE {unleased} AND d.next_attempt_at > %(now)s"
        f"  AND {ENDPOINT_ACTIVE} AND {ENDPOINT_UNOWNED} AND {HEAD}"
        "  AND (ep.paused_until IS NULL OR ep.paused_until <= d.next_attempt_at)"
        "  ORDER BY d.next_attempt_at LIMIT 1) f"
        " UNION ALL"
        f" SELECT MIN(ep.paused_until) FROM {endpoint} ep"
        f" WHERE ep.paused_until > %(now)s AND {ENDPOINT_ACTIVE} AND {ENDPOINT_UNOWNED}"
        f" AND EXISTS (SELECT 1 FROM {delivery} d WHERE d.endpoint_id = ep.id AND {unleased}"
        f"  AND d.next_attempt_at < ep.paused_until AND {HEAD})"
        ") u"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, due.params())
        raw = cursor.fetchone()[0]
    if raw is None:
        return None
    at = rows.value(Delivery, "next_attempt_at", raw)
    return max(0.0, (at - due.now).total_seconds())
