"""The claim's statements, in SQL: the engine's hottest path.

Built through the ORM, the claim's statements cost about 1 ms of Python each to
compile, several times what PostgreSQL took to run them. Written here by hand
(on :mod:`webhooks_app.sending.due`'s definition of claimable), the claim is two
statements on PostgreSQL:

1. :func:`lock_endpoints`: the endpoints of the oldest claimable deliveries, as
   many as can fill the claim, locked ``FOR UPDATE SKIP LOCKED`` (an endpoint
   another worker is claiming for is skipped, not waited for);
2. :func:`lease`: once those locks are held, a new statement (so a new
   snapshot, which sees every lease committed for them) counts each endpoint's
   requests in flight, picks the oldest claimable deliveries that fit in the
   room left, leases them and returns them with their events, in one
   ``UPDATE … RETURNING``.

On SQLite, whose write lock (taken first) serializes claims, the second step
is a ``SELECT`` of the chosen rows, an ``UPDATE … RETURNING`` of the ones still
due, and a ``SELECT`` of those by id with their events. The choice's SQL is the
same on both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection

from webhooks_app.db import rows
from webhooks_app.models import Delivery, Endpoint, Event
from webhooks_app.sending.due import (
    DUE,
    HEAD,
    IN_FLIGHT,
    UNHELD_AND_TIME,
    Due,
    claimable,
    in_list,
    in_list_params,
)

CANDIDATES_PER_SLOT = 4
"""Due deliveries read per slot: some belong to endpoints with no room left."""

STILL_DUE = f"(d.status = %(pending)s) IS TRUE AND {UNHELD_AND_TIME} AND {HEAD}"
""":data:`~webhooks_app.sending.due.DUE`, written so that the partial index on ``status``
does not apply: the lease ``UPDATE`` re-checks each row it found by primary key, and with
statistics behind a fast-growing table PostgreSQL's planner would scan that index instead."""


def lock_endpoints(due: Due, limit: int) -> dict[int, Endpoint]:
    """Lock the endpoints the oldest claimable deliveries need to fill ``limit`` slots."""
    sql = (
        f"SELECT {rows.select_list(Endpoint, 'e')} FROM {rows.table(Endpoint)} e"
        " WHERE e.id IN ("
        "  SELECT w.endpoint_id FROM ("
        "   SELECT c.endpoint_id, c.next_attempt_at, c.id, ROW_NUMBER() OVER"
        "    (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS n"
        f"   FROM ({claimable(due)}) c"
        "  ) w WHERE w.n <= %(cap)s ORDER BY w.next_attempt_at, w.id LIMIT %(limit)s"
        ") ORDER BY e.id"
    )
    if connection.features.has_select_for_update_skip_locked:
        sql += " FOR UPDATE OF e SKIP LOCKED"
    params = {**due.params(), "count": limit * CANDIDATES_PER_SLOT, "limit": limit}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = [rows.instance(Endpoint, row) for row in cursor.fetchall()]
    return {endpoint.pk: endpoint for endpoint in found}


def anything_claimable(due: Due) -> bool:
    """Whether any delivery is claimable now (asked after an empty claim)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM ({claimable(due)}) c", {**due.params(), "count": 1})
        return cursor.fetchone() is not None


def lease(
    due: Due, room: dict[int, int], limit: int, until: datetime
) -> list[tuple[Delivery, datetime | None]]:
    """Lease the oldest claimable deliveries that fit in ``room`` (allowed in flight per
    endpoint).

    Returns each with its event loaded and its previous lease (set when that
    lease expired: a worker died during the try), oldest first.
    """
    params = {**due.params(), **_chosen_params(due, room, limit), "until": rows.adapt(until)}
    if connection.vendor == "postgresql":
        leased = _lease_returning(due, room, params)
    else:
        leased = _lease_in_steps(due, room, params)
    leased.sort(key=lambda pair: (pair[0].next_attempt_at, pair[0].pk))
    return leased


_LEASE = "SET locked_until = %(until)s, attempt_count = d.attempt_count + 1"


def _lease_returning(
    due: Due, room: dict[int, int], params: dict[str, Any]
) -> list[tuple[Delivery, datetime | None]]:
    """PostgreSQL: choose, lease and read in one statement."""
    sql = (
        f"{_chosen(due, room)},"
        f" leased AS (UPDATE {rows.table(Delivery)} AS d {_LEASE}"
        f"  WHERE d.id = ANY(ARRAY(SELECT id FROM chosen)) AND {STILL_DUE} RETURNING d.*)"
        f" SELECT {rows.select_list(Delivery, 'd')}, c.previous_lease,"
        f" {rows.select_list(Event, 'ev')}"
        " FROM leased d JOIN chosen c ON c.id = d.id"
        f" JOIN {rows.table(Event)} ev ON ev.id = d.event_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [_leased(row[:_WIDTH], row[_WIDTH], row[_WIDTH + 1 :]) for row in cursor]


def _lease_in_steps(
    due: Due, room: dict[int, int], params: dict[str, Any]
) -> list[tuple[Delivery, datetime | None]]:
    """SQLite: choose; lease the chosen rows still due; read the leased rows by id."""
    delivery = rows.table(Delivery)
    with connection.cursor() as cursor:
        cursor.execute(f"{_chosen(due, room)} SELECT c.id, c.previous_lease FROM chosen c", params)
        previous = {pk: rows.value(Delivery, "locked_until", at) for pk, at in cursor.fetchall()}
        if not previous:
            return []
        cursor.execute(
            f"UPDATE {delivery} AS d {_LEASE}"
            f" WHERE d.id IN ({in_list('chosen', previous)}) AND {DUE} RETURNING id",
            {**params, **in_list_params("chosen", previous)},
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        if not ids:
            return []
        cursor.execute(
            f"SELECT {rows.select_list(Delivery, 'd')}, {rows.select_list(Event, 'ev')}"
            f" FROM {delivery} d JOIN {rows.table(Event)} ev ON ev.id = d.event_id"
            f" WHERE d.id IN ({in_list('leased', ids)})",
            in_list_params("leased", ids),
        )
        return [_leased(row[:_WIDTH], previous[row[0]], row[_WIDTH:]) for row in cursor.fetchall()]


def _leased(
    delivery_row: Any, previous_lease: Any, event_row: Any
) -> tuple[Delivery, datetime | None]:
    item = rows.instance(Delivery, delivery_row)
    item.event = rows.instance(Event, event_row)
    return item, previous_lease


_WIDTH = rows.width(Delivery)


def _chosen(due: Due, room: dict[int, int]) -> str:
    """``WITH … chosen``: the deliveries to lease, counted against each endpoint's room.

    Requests in flight are counted by this statement, after the endpoints'
    locks were taken, so no other claim can add to them meanwhile.
    """
    delivery = rows.table(Delivery)
    endpoints = in_list("endpoint", room)
    room_rows = ", ".join(
        f"(%(endpoint_{index})s, %(allowed_{index})s)" for index in range(len(room))
    )
    # Computed once, whatever the planner guesses from stale statistics (a table that
    # just grew by thousands of rows): otherwise it may re-run the selection per row.
    materialized = "MATERIALIZED " if connection.vendor == "postgresql" else ""
    only = "" if due.only is None else f" AND d.id IN ({in_list('only', due.only)})"
    return (
        f"WITH room (endpoint_id, allowed) AS (VALUES {room_rows}),"
        f" busy AS {materialized}("
        f"  SELECT l.endpoint_id, COUNT(*) AS n FROM {delivery} l"
        f"  WHERE {IN_FLIGHT} AND l.endpoint_id IN ({endpoints})"
        "  GROUP BY l.endpoint_id),"
        " candidates AS ("
        "  SELECT c.id, c.endpoint_id, c.next_attempt_at, c.locked_until AS previous_lease,"
        "   ROW_NUMBER() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS n"
        "  FROM ("
        f"   SELECT d.id, d.endpoint_id, d.next_attempt_at, d.locked_until FROM {delivery} d"
        f"   WHERE {DUE} AND d.endpoint_id IN ({endpoints}){only}"
        "   ORDER BY d.next_attempt_at, d.id LIMIT %(candidates)s) c),"
        f" chosen AS {materialized}("
        "  SELECT c.id, c.previous_lease FROM candidates c"
        "  JOIN room r ON r.endpoint_id = c.endpoint_id"
        "  LEFT JOIN busy b ON b.endpoint_id = c.endpoint_id"
        "  WHERE c.n <= r.allowed - COALESCE(b.n, 0)"
        "  ORDER BY c.next_attempt_at, c.id LIMIT %(limit)s)"
    )


def _chosen_params(due: Due, room: dict[int, int], limit: int) -> dict[str, Any]:
    """The parameters of :func:`_chosen` beyond :meth:`Due.params`."""
    return {
        **in_list_params("endpoint", room),
        **in_list_params("allowed", room.values()),
        "candidates": limit * CANDIDATES_PER_SLOT,
        "limit": limit,
    }
