"""The query plans of "due" with ordering keys on PostgreSQL: no sequential scan of a big table.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch python benchmarks/ordering_plans.py

It drops and recreates the database DATABASE_URL names (use a scratch one), fills
it with a realistic history (``--deliveries`` rows, ``--keyed`` percent of them
keyed over ``--keys`` keys, 5 % pending, an outbox of events not fanned out
yet), runs ANALYZE, then captures the statements of a claim, of the sweep's
count, of ``seconds_until_next`` and of the lag gauge, and prints each one's
plan from ``EXPLAIN (ANALYZE, BUFFERS)`` (run in a transaction that is rolled
back). It exits with status 1 when a plan reads the delivery, event or outbox
table by a sequential scan, or (with keyed rows) when the head test does not
use the ordering-key indexes (``webhooks_delivery_key``, ``webhooks_outbox_key``).

The cost of the head test: each statement that contains it is also run with
it replaced by ``TRUE``, the two alternated ``--repeat`` times; the medians of
their execution times and their ratio are printed.

It goes through the public entry points (``claims.claim_batch``,
``due.count_claimable``, ``due.seconds_until_next``, ``due.oldest_due_at``) and
explains whatever SQL they run, so it follows the engine as it changes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

BIG_TABLES = {"webhooks_app_delivery", "webhooks_app_event", "webhooks_app_outboxentry"}
KEY_INDEXES = {"webhooks_delivery_key", "webhooks_outbox_key"}


def recreate(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def fill(deliveries: int, keys: int, keyed: int, endpoints: int, outbox: int) -> None:
    """A history: events with one delivery each, 95 % of them done; a young outbox."""
    from django.db import connection

    from webhooks_app.models import Endpoint

    Endpoint.objects.bulk_create(Endpoint(url=f"http://127.0.0.1:9/{n}") for n in range(endpoints))
    first = Endpoint.objects.order_by("pk").values_list("pk", flat=True)[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO webhooks_app_event (id, event_type, payload, tenant, idempotency_key,"
            " created_at, ordering_key, sequence)"
            " SELECT 'msg_' || lpad(i::text, 12, '0'), 'order.paid', '{}'::jsonb, '', NULL,"
            "  now() - make_interval(secs => (%(n)s - i) / 100.0),"
            "  CASE WHEN i %% 100 < %(keyed)s THEN 'key-' || (i %% %(keys)s) ELSE '' END, i"
            " FROM generate_series(1, %(n)s + %(outbox)s) i",
            {"n": deliveries, "keys": keys, "keyed": keyed, "outbox": outbox},
        )
        cursor.execute(
            "INSERT INTO webhooks_app_delivery (event_id, endpoint_id, status, attempt_count,"
            " next_attempt_at, locked_until, last_status_code, last_error, created_at,"
            " finished_at, ordering_key, sequence)"
            " SELECT e.id, %(first)s + (e.sequence %% %(endpoints)s),"
            "  CASE WHEN e.sequence > %(n)s * 0.95 THEN 'pending' ELSE 'succeeded' END,"
            "  1, CASE WHEN e.sequence > %(n)s * 0.95 THEN e.created_at END, NULL, 200, '',"
            "  e.created_at, NULL, e.ordering_key, e.sequence"
            " FROM webhooks_app_event e WHERE e.sequence <= %(n)s",
            {"n": deliveries, "first": first, "endpoints": endpoints},
        )
        cursor.execute(
            "INSERT INTO webhooks_app_outboxentry (event_id, tenant, ordering_key, sequence,"
            " created_at) SELECT id, tenant, ordering_key, sequence, created_at"
            " FROM webhooks_app_event WHERE sequence > %(n)s",
            {"n": deliveries},
        )
        cursor.execute("ANALYZE")


def captured(call) -> list[tuple[str, dict | None]]:
    """The statements ``call`` runs (SQL with its parameters), in a rolled-back transaction."""
    from django.db import connection, transaction

    statements: list[tuple[str, dict | None]] = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    class Rollback(Exception):
        pass

    try:
        with transaction.atomic(), connection.execute_wrapper(keep):
            call()
            raise Rollback
    except Rollback:
        pass
    return statements


def explain(sql: str, params) -> dict:
    """``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` of one statement, rolled back."""
    from django.db import connection, transaction

    class Rollback(Exception):
        pass

    plan: dict = {}
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
            raw = cursor.fetchone()[0]
            plan = (raw if isinstance(raw, list) else json.loads(raw))[0]
            raise Rollback
    except Rollback:
        pass
    return plan


def timed(sql: str, params, repeat: int) -> tuple[float, float]:
    """Median execution times (ms) of ``sql`` with the head test and without it, alternated."""
    from webhooks_app.sending import due

    bare = sql.replace(due.HEAD, "TRUE")
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for index, statement in enumerate((sql, bare)):
            times[index].append(explain(statement, params)["Execution Time"])
    return statistics.median(times[0]), statistics.median(times[1])


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def report(name: str, plan: dict) -> tuple[list[str], set[str]]:
    """Print the plan's scans; return the sequential scans of big tables and the indexes used."""
    top = plan["Plan"]
    print(f"\n== {name}: {plan.get('Execution Time', 0):.2f} ms")
    problems, indexes = [], set()
    for node in nodes(top):
        kind = node["Node Type"]
        relation = node.get("Relation Name", "")
        index = node.get("Index Name", "")
        if index:
            indexes.add(index)
        if "Scan" in kind and relation:
            loops = node.get("Actual Loops", 1)
            rows = node.get("Actual Rows", 0)
            print(f"   {kind:<22} {relation:<28} {index:<34} loops={loops} rows={rows}")
        if kind == "Seq Scan" and relation in BIG_TABLES:
            problems.append(f"{name}: sequential scan of {relation}")
    return problems, indexes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=300_000)
    parser.add_argument("--keys", type=int, default=2_000)
    parser.add_argument("--keyed", type=int, default=50, help="percent of events with a key")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--endpoints", type=int, default=50)
    parser.add_argument("--outbox", type=int, default=2_000)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (it is recreated).")
    recreate(url)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    fill(args.deliveries, args.keys, args.keyed, args.endpoints, args.outbox)

    from webhooks_app.sending import claims, due

    calls = {
        "claim_batch(32)": lambda: claims.claim_batch(32),
        "count_claimable (sweep)": lambda: due.count_claimable(limit=3200),
        "seconds_until_next": due.seconds_until_next,
        "oldest_due_at (lag gauge)": due.oldest_due_at,
    }
    problems: list[str] = []
    used: set[str] = set()
    for name, call in calls.items():
        for number, (sql, params) in enumerate(captured(call), 1):
            if not sql.lstrip().upper().startswith(("SELECT", "WITH", "UPDATE")):
                continue
            found, indexes = report(f"{name} #{number}", explain(sql, params))
            problems += found
            used |= indexes
            if due.HEAD in sql:
                with_head, without = timed(sql, params, args.repeat)
                print(
                    f"   head test: {with_head:.2f} ms with it, {without:.2f} ms without"
                    f" (median of {args.repeat}, alternated): {with_head / without:.2f}x"
                )
    if args.keyed and (missing := KEY_INDEXES - used):
        problems.append(f"never used: {sorted(missing)}")
    print("\n" + ("\n".join(problems) if problems else "No sequential scan of a big table."))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
