"""The SQL the engine runs, as it runs it: each statement with the function that issued it,
its time and, on request, its plan.

Nothing is copied from the engine: a Django ``execute_wrapper`` sees every
statement the code under measurement executes, so the figures and plans follow
whatever the engine's modules build today.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

PACKAGE = "webhooks_app."
PLAN = "EXPLAIN (ANALYZE, BUFFERS) "
PLANNABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")  # not SAVEPOINT, not COMMIT


@dataclass
class Statement:
    origin: str  # "claim_sql.lock_endpoints": the innermost function of the app that ran it
    sql: str
    params: Any
    seconds: float
    plans: list[str] = field(default_factory=list)  # EXPLAIN ANALYZE runs before it, in order


def origin(skip: int = 2) -> str:
    """``module.function`` of the innermost frame of the app (without ``webhooks_app.`` and
    its layer: ``sending.claim_sql`` → ``claim_sql``); "?" when none is on the stack."""
    frame = sys._getframe(skip)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith(PACKAGE) and not module.startswith(PACKAGE + "db."):
            return f"{module.rsplit('.', 1)[-1]}.{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


@contextmanager
def recorded(explain: int = 0) -> Iterator[list[Statement]]:
    """Every statement run on the default connection meanwhile, in order.

    ``explain``: run ``EXPLAIN (ANALYZE, BUFFERS)`` of each statement that many times
    right before it runs (each inside a savepoint that is rolled back, so the
    statement then runs on the same data it was planned on). The caller must be
    inside ``transaction.atomic()`` for that.
    """
    from django.db import connection

    seen: list[Statement] = []

    def wrapper(execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        where = origin()
        plannable = explain and not many and sql.split(None, 1)[0].upper() in PLANNABLE
        plans = _plans(context["cursor"], sql, params, explain) if plannable else []
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            seen.append(Statement(where, sql, params, time.perf_counter() - started, plans))

    with connection.execute_wrapper(wrapper):
        yield seen


def _plans(cursor: Any, sql: str, params: Any, times: int) -> list[str]:
    from django.db import connection

    if not connection.in_atomic_block:
        raise RuntimeError("EXPLAIN ANALYZE runs the statement: explain inside atomic() only")
    raw = cursor.cursor  # the driver's cursor: this is not one of the statements recorded
    plans = []
    for _ in range(times):
        raw.execute("SAVEPOINT bench_explain")
        try:
            raw.execute(PLAN + sql, params)
            plans.append("\n".join(row[0] for row in raw.fetchall()))
        finally:
            raw.execute("ROLLBACK TO SAVEPOINT bench_explain")
            raw.execute("RELEASE SAVEPOINT bench_explain")
    return plans


def seconds_by_origin(statements: list[Statement]) -> dict[str, float]:
    """Total statement time per module of the app (``claim_sql``, ``fanout``, ...)."""
    totals: dict[str, float] = {}
    for statement in statements:
        module = statement.origin.split(".", 1)[0]
        totals[module] = totals.get(module, 0.0) + statement.seconds
    return totals
