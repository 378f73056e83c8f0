"""The claim's statements, in SQL: the engine's hottest path.

Built through the ORM, the claim's five statements cost about 1 ms of Python
each to compile, several times what PostgreSQL took to run them. Written here
by hand, the claim is two statements on PostgreSQL:

1. :func:`lock_endpoints`: the endpoints of the oldest due deliveries, as many
   as can fill the claim, locked ``FOR UPDATE SKIP LOCKED`` (an endpoint
   another worker is claiming for is skipped, not waited for);
2. :func:`lease`: once those locks are held, a new statement (so a new
   snapshot, which sees every lease committed for them) counts each endpoint's
   requests in flight, picks the oldest due deliveries that fit in the room
   left, leases them and returns them with their events, in one
   ``UPDATE … RETURNING``.

On SQLite (whose write lock, taken first, serializes claims) and other
databases the second step is a ``SELECT``, an ``UPDATE`` and a ``SELECT``.
The selection's SQL is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from webhooks_app.db import rows
from webhooks_app.models import Delivery, Endpoint, Event

CANDIDATES_PER_SLOT = 4
"""Due deliveries read per slot: some belong to endpoints with no room left."""

PENDING = Delivery.Status.PENDING.value


@dataclass(frozen=True)
class Due:
    """What a claim looks for: due at ``now``, at most ``cap`` in flight per endpoint.

    ``only``: just these deliveries, paused endpoints included.
    """

    now: datetime
    cap: int
    only: Collection[int] | None = None


def lock_endpoints(due: Due, limit: int) -> dict[int, Endpoint]:
    """Lock the endpoints the oldest due deliveries need to fill ``limit`` slots."""
    candidates, params = _candidates(due, limit * CANDIDATES_PER_SLOT)
    endpoint = rows.table(Endpoint)
    sql = (
        f"SELECT {rows.select_list(Endpoint, 'e')} FROM {endpoint} e WHERE e.id IN ("
        " SELECT w.endpoint_id FROM ("
        "  SELECT c.endpoint_id, c.next_attempt_at, c.id, ROW_NUMBER() OVER"
        "   (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS n"
        f"  FROM ({candidates}) c"
        " ) w WHERE w.n <= %s ORDER BY w.next_attempt_at, w.id LIMIT %s"
        ") ORDER BY e.id"
    )
    params += [due.cap, limit]
    if connection.features.has_select_for_update_skip_locked:
        sql += " FOR UPDATE OF e SKIP LOCKED"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = [rows.instance(Endpoint, row) for row in cursor.fetchall()]
    return {endpoint.pk: endpoint for endpoint in found}


def anything_due(due: Due) -> bool:
    """Whether any delivery is claimable now (asked after an empty claim)."""
    candidates, params = _candidates(due, 1)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM ({candidates}) c", params)
        return cursor.fetchone() is not None


def lease(
    due: Due, room: dict[int, int], limit: int, until: datetime
) -> list[tuple[Delivery, datetime | None]]:
    """Lease the oldest due deliveries that fit in ``room`` (allowed in flight per endpoint).

    Returns each with its event loaded and its previous lease (set when that
    lease expired: a worker died during the try), oldest first.
    """
    chosen, params = _chosen(due, room, limit)
    delivery, event = rows.table(Delivery), rows.table(Event)
    lease_params = [rows.adapt(until), *_due_params(due)]
    if connection.vendor == "postgresql":
        # The UPDATE finds its rows by primary key and re-checks on each that it is
        # still due (another transaction may have changed it since this snapshot).
        sql = (
            f"{chosen}, leased AS (UPDATE {delivery} AS d"
            " SET locked_until = %s, attempt_count = d.attempt_count + 1"
            f" WHERE d.id = ANY(ARRAY(SELECT id FROM chosen)) AND {_STILL_DUE} RETURNING d.*)"
            f" SELECT {rows.select_list(Delivery, 'd')}, c.previous_lease,"
            f" {rows.select_list(Event, 'ev')}"
            f" FROM leased d JOIN chosen c ON c.id = d.id JOIN {event} ev ON ev.id = d.event_id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params + lease_params)
            found = cursor.fetchall()
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"{chosen} SELECT c.id, c.previous_lease FROM chosen c", params)
            previous = {pk: rows.value(Delivery, "locked_until", at) for pk, at in cursor}
            if not previous:
                return []
            ids = list(previous)
            marks = ", ".join(["%s"] * len(ids))
            cursor.execute(
                f"UPDATE {delivery} AS d SET locked_until = %s,"
                f" attempt_count = d.attempt_count + 1 WHERE d.id IN ({marks}) AND {_DUE}",
                [lease_params[0], *ids, *lease_params[1:]],
            )
            cursor.execute(
                f"SELECT {rows.select_list(Delivery, 'd')}, NULL, {rows.select_list(Event, 'ev')}"
                f" FROM {delivery} d JOIN {event} ev ON ev.id = d.event_id"
                f" WHERE d.id IN ({marks}) AND d.locked_until = %s",
                [*ids, rows.adapt(until)],
            )
            found = [(*row[:_WIDTH], previous[row[0]], *row[_WIDTH + 1 :]) for row in cursor]
    leased = []
    for row in found:
        item = rows.instance(Delivery, row[:_WIDTH])
        item.event = rows.instance(Event, row[_WIDTH + 1 :])
        leased.append((item, row[_WIDTH]))
    leased.sort(key=lambda pair: (pair[0].next_attempt_at, pair[0].pk))
    return leased


_WIDTH = rows.width(Delivery)

# A due delivery, for the lease UPDATE to re-check on the row it finally updates.
_DUE = (
    "d.status = %s AND d.next_attempt_at <= %s AND (d.locked_until IS NULL OR d.locked_until <= %s)"
)


# The same, written so that the due index (partial on status) does not apply: with
# statistics behind a fast-growing table, the planner would scan it rather than
# look the chosen rows up by primary key.
_STILL_DUE = _DUE.replace("d.status = %s", "(d.status = %s) IS TRUE")


def _due_params(due: Due) -> list[Any]:
    now = rows.adapt(due.now)
    return [PENDING, now, now]


def _candidates(due: Due, count: int) -> tuple[str, list[Any]]:
    """The oldest ``count`` claimable deliveries, leaving out endpoints with no room.

    Leaving the saturated endpoints out keeps a backlog of one from filling
    the candidates, so the others' due deliveries are found. An open circuit
    has room for one probe at a time.
    """
    delivery, endpoint = rows.table(Delivery), rows.table(Endpoint)
    now = rows.adapt(due.now)
    sql = (
        "SELECT d.id, d.endpoint_id, d.next_attempt_at, d.locked_until"
        f" FROM {delivery} d JOIN {endpoint} ep ON ep.id = d.endpoint_id"
        f" WHERE {_DUE} AND ep.is_active = %s"
    )
    params: list[Any] = [*_due_params(due), True]
    if due.only is None:
        sql += " AND (ep.paused_until IS NULL OR ep.paused_until <= %s)"
        params.append(now)
    else:
        only, only_params = _only(due)
        sql += only
        params += only_params
    sql += (
        " AND d.endpoint_id NOT IN ("
        f"  SELECT l.endpoint_id FROM {delivery} l JOIN {endpoint} le ON le.id = l.endpoint_id"
        "  WHERE l.status = %s AND l.locked_until > %s GROUP BY l.endpoint_id"
        "  HAVING COUNT(*) >= %s OR MIN(le.circuit_opened_at) IS NOT NULL"
        ") ORDER BY d.next_attempt_at, d.id LIMIT %s"
    )
    params += [PENDING, now, due.cap, count]
    return sql, params


def _only(due: Due) -> tuple[str, list[Any]]:
    """`` AND d.id IN (…)`` for a claim of listed deliveries, else nothing."""
    if due.only is None:
        return "", []
    listed: list[Any] = list(due.only) or [None]  # IN (NULL) matches nothing
    return f" AND d.id IN ({', '.join(['%s'] * len(listed))})", listed


def _chosen(due: Due, room: dict[int, int], limit: int) -> tuple[str, list[Any]]:
    """``WITH … chosen``: the deliveries to lease, counted against each endpoint's room.

    Requests in flight are counted by this statement, after the endpoints'
    locks were taken, so no other claim can add to them meanwhile.
    """
    delivery = rows.table(Delivery)
    ids = list(room)
    marks = ", ".join(["%s"] * len(ids))
    values = ", ".join(["(%s, %s)"] * len(ids))
    now = rows.adapt(due.now)
    only, only_params = _only(due)
    # Computed once, whatever the planner guesses from stale statistics (a table that
    # just grew by thousands of rows): otherwise it may re-run the selection per row.
    materialized = "MATERIALIZED " if connection.vendor == "postgresql" else ""
    sql = (
        f"WITH room (endpoint_id, allowed) AS (VALUES {values}),"
        f" busy AS {materialized}("
        f"  SELECT l.endpoint_id, COUNT(*) AS n FROM {delivery} l"
        f"  WHERE l.status = %s AND l.locked_until > %s AND l.endpoint_id IN ({marks})"
        "  GROUP BY l.endpoint_id),"
        " candidates AS ("
        "  SELECT c.id, c.endpoint_id, c.next_attempt_at, c.locked_until AS previous_lease,"
        "   ROW_NUMBER() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS n"
        "  FROM ("
        f"   SELECT d.id, d.endpoint_id, d.next_attempt_at, d.locked_until FROM {delivery} d"
        f"   WHERE {_DUE} AND d.endpoint_id IN ({marks}){only}"
        "   ORDER BY d.next_attempt_at, d.id LIMIT %s) c),"
        f" chosen AS {materialized}("
        "  SELECT c.id, c.previous_lease FROM candidates c"
        "  JOIN room r ON r.endpoint_id = c.endpoint_id"
        "  LEFT JOIN busy b ON b.endpoint_id = c.endpoint_id"
        "  WHERE c.n <= r.allowed - COALESCE(b.n, 0)"
        "  ORDER BY c.next_attempt_at, c.id LIMIT %s)"
    )
    params: list[Any] = [value for pair in room.items() for value in pair]
    params += [PENDING, now, *ids]
    params += [*_due_params(due), *ids, *only_params, limit * CANDIDATES_PER_SLOT]
    params += [limit]
    return sql, params
