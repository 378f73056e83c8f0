"""The UPDATEs that count a group of tries in their endpoints' health, in SQL.

Every group of recorded tries changes its endpoints' rows now (the circuit breaker's
window, :mod:`webhooks_app.breaker`), and recording runs on every few deliveries: built
through the ORM, the CASE expressions of one such UPDATE cost more Python time than the
database took to run it (as the claim's did, :mod:`webhooks_app.sending.claim_sql`).
So they are written here, with named parameters both backends accept.

Each adds to the columns in the statement itself (``window_requests + 3``), never a
value read earlier, so two workers recording one endpoint lose none of each other's
counts; and it reads the old row in every assignment (SQL evaluates them all before
it writes any), so the window's start, its counts and the circuit agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from webhooks_app import breaker
from webhooks_app.db import rows
from webhooks_app.models import Endpoint
from webhooks_app.sending.due import in_list, in_list_params

NO_ALERT = Endpoint.Alert.NONE.value


@dataclass(frozen=True)
class Window:
    """Where the breaker's window stands at ``now`` (:func:`webhooks_app.breaker.counted`)."""

    now: datetime
    length: float

    def params(self) -> dict[str, Any]:
        current = breaker.window_start(self.now, self.length)
        return {
            "now": rows.adapt(self.now),
            "current": rows.adapt(current),
            "previous": rows.adapt(current - timedelta(seconds=self.length)),
            "no_alert": NO_ALERT,
        }


def window_assignments(requests: str, failures: str, *, closes: bool) -> str:
    """``SET`` items adding ``requests`` tries and ``failures`` failures (SQL expressions)
    to the window: the same window adds up, the one before is carried halved
    (:data:`~webhooks_app.breaker.CARRIED`), an older one is dropped; and when the tries
    close an open circuit (``closes``: one of them succeeded), it starts afresh."""
    afresh = "circuit_opened_at IS NOT NULL"

    def count(column: str, added: str) -> str:
        return (
            "CASE"
            + (f" WHEN {afresh} THEN {added}" if closes else "")
            + f" WHEN window_started_at >= %(current)s THEN {column} + {added}"
            f" WHEN window_started_at >= %(previous)s THEN {column} / {breaker.CARRIED} + {added}"
            f" ELSE {added} END"
        )

    kept = "window_started_at >= %(current)s" + (f" AND NOT ({afresh})" if closes else "")
    return (
        f"window_requests = {count('window_requests', requests)},"
        f" window_failures = {count('window_failures', failures)},"
        f" window_started_at = CASE WHEN {kept} THEN window_started_at ELSE %(current)s END"
    )


def all_succeeded(tries: Mapping[int, int], window: Window) -> None:
    """Endpoints whose tries (``{endpoint: how many}``) all succeeded: their streaks end,
    an open circuit closes, and the tries count in the window. One UPDATE for all of
    them, which takes their rows in primary-key order (``ORDER BY ... FOR UPDATE`` on
    PostgreSQL; SQLite's write lock serialises recorders), as one UPDATE per endpoint
    in that order did: two recorders never wait for each other's rows crosswise."""
    ids = sorted(tries)
    table = rows.table(Endpoint)
    if len(ids) == 1:
        which, params = f'{table}."id" = %(id_0)s', {"id_0": ids[0]}
    else:
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        which = (
            f"id IN (SELECT id FROM {table} WHERE id IN ({in_list('id', ids)}) ORDER BY id{lock})"
        )
        params = in_list_params("id", ids)
    if len(set(tries.values())) == 1:
        added, counts = "%(tries)s", {"tries": tries[ids[0]]}
    else:
        whens = " ".join(f"WHEN %(id_{n})s THEN %(tries_{n})s" for n in range(len(ids)))
        added = f"CASE id {whens} END"
        counts = {f"tries_{n}": tries[pk] for n, pk in enumerate(ids)}
    sql = (
        f"UPDATE {table} SET failure_streak = 0, failing_since = NULL, circuit_failures = 0,"
        f" circuit_opened_at = NULL, alerted_stage = %(no_alert)s,"
        f" {window_assignments(added, '0', closes=True)} WHERE {which}"
    )
    _execute(sql, {**window.params(), **params, **counts})


def failed(
    endpoint_id: int,
    *,
    tries: int,
    failures: int,
    streak: int,
    transient_streak: int,
    after_a_success: bool,
    window: Window,
) -> None:
    """An endpoint whose group ended in ``streak`` failures (``transient_streak`` of them
    timeouts, connection errors or retryable statuses) out of ``tries`` tries, of which
    ``failures`` were transient: after a success in the group, a new streak (and an open
    circuit closed); else the streak goes on. The tries count in the window."""
    if after_a_success:
        streak_sql = (
            "failure_streak = %(streak)s, failing_since = %(now)s,"
            " circuit_failures = %(transient_streak)s, circuit_opened_at = NULL,"
            " alerted_stage = %(no_alert)s"  # a new streak: its own alerts
        )
    else:
        streak_sql = (
            "failure_streak = failure_streak + %(streak)s,"
            " failing_since = COALESCE(failing_since, %(now)s),"
            " circuit_failures = circuit_failures + %(transient_streak)s"
        )
    table = rows.table(Endpoint)
    assignments = window_assignments("%(tries)s", "%(failures)s", closes=after_a_success)
    sql = f'UPDATE {table} SET {streak_sql}, {assignments} WHERE {table}."id" = %(endpoint)s'
    _execute(
        sql,
        {
            **window.params(),
            "endpoint": endpoint_id,
            "tries": tries,
            "failures": failures,
            "streak": streak,
            "transient_streak": transient_streak,
        },
    )


def _execute(sql: str, params: dict[str, Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
