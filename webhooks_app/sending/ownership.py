"""Endpoint ownership: only the worker that owns an endpoint sends to it.

A run of the engine takes a time-limited ownership of the endpoints it sends
to (``Endpoint.owner``, ``Endpoint.owned_until``), each in a short statement:
no row lock outlives it, so none is held during HTTP. It renews the ownership
whenever it leases deliveries of the endpoint, always to a time at or after
the end of every lease it holds, so that:

- another worker may take an endpoint over only once ``owned_until`` has
  passed, which is after the owner's last request deadline plus the lease
  margin (a request ends by its lease's end minus the margin);
- the owner sends only while it still owns the endpoint: a renewal that finds
  it taken over (the owner was stopped, then resumed) ends its lane.

With one owner per endpoint, the per-endpoint cap of requests in flight, the
rate limit and ordering keys are kept in the owner's memory, and a freed slot
is refilled from the deliveries it leased ahead, without a database round trip.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Collection
from datetime import datetime

from django.db import connection

from webhooks_app.db import rows
from webhooks_app.models import Endpoint
from webhooks_app.sending.due import Due, claimable, in_list, in_list_params

_SET = "SET owner = %(me)s, owned_until = %(until)s"


def new_owner() -> str:
    """A name for one run of the engine: host, process and a random part (at most 100
    characters, the column's size)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(6)}"


def take(me: str, limit: int, until: datetime, due: Due) -> dict[int, Endpoint]:
    """Take up to ``limit`` unowned endpoints that have claimable deliveries; their rows.

    ``due`` is unowned (:attr:`Due.owner` None), so an endpoint a live owner holds is
    never chosen; endpoints another worker is taking at this moment are skipped, not
    waited for (``SKIP LOCKED``).
    """
    if limit <= 0:
        return {}
    table = rows.table(Endpoint)
    lock = " FOR UPDATE OF e SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = (
        f"UPDATE {table} {_SET} WHERE id IN ("
        f" SELECT e.id FROM {table} e WHERE e.id IN ("
        f"  SELECT c.endpoint_id FROM ({claimable(due)}) c)"
        "  AND (e.owned_until IS NULL OR e.owned_until <= %(now)s)"
        f" ORDER BY e.id LIMIT %(limit)s{lock})"
        f" RETURNING {rows.column_list(Endpoint)}"
    )
    params = {
        **due.params(),
        "count": limit * 8,
        "limit": limit,
        "me": me,
        "until": rows.adapt(until),
    }
    return _run(sql, params)


def renew(me: str, endpoint_ids: Collection[int], until: datetime) -> dict[int, Endpoint]:
    """Extend this worker's ownership of these endpoints to ``until``; the rows of those
    it still owns (the others were taken over, after its ownership ran out)."""
    if not endpoint_ids:
        return {}
    sql = (
        f"UPDATE {rows.table(Endpoint)} SET owned_until = %(until)s"
        f" WHERE id IN ({in_list('endpoint', endpoint_ids)}) AND owner = %(me)s"
        f" RETURNING {rows.column_list(Endpoint)}"
    )
    params = {
        **in_list_params("endpoint", endpoint_ids),
        "me": me,
        "until": rows.adapt(until),
    }
    return _run(sql, params)


def release(me: str, endpoint_ids: Collection[int]) -> None:
    """Give these endpoints up (those this worker still owns)."""
    if not endpoint_ids:
        return
    Endpoint.objects.filter(pk__in=list(endpoint_ids), owner=me).update(owner="", owned_until=None)


def _run(sql: str, params: dict) -> dict[int, Endpoint]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = [rows.instance(Endpoint, row) for row in cursor.fetchall()]
    return {endpoint.pk: endpoint for endpoint in found}
