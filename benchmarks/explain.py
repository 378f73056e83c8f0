"""Print the plans of the engine's hot statements on a database with history, as markdown.

    python benchmarks/explain.py [--history 1000000] [--backlog 2000] [--endpoints 10]
                                 [--repeat 3] [--out FILE] [--history-rebuild]

On a fresh copy of the history template of ``benchmarks/engine.py`` (built
when missing; see ``benchmarks/engine_support/history.py``), inside one
transaction that is rolled back at the end, it runs the engine's code the way
a worker and the sweep do, and prints ``EXPLAIN (ANALYZE, BUFFERS)`` of every
statement that code executes, just before it runs:

0. at rest, with nothing due: the sweep, and the functions of ``due``;
1. fan-out: ``--backlog`` events sent (``send_event``) to ``--endpoints`` live
   endpoints, then ``fanout.expand_pending()``;
2. the sweep: ``sweep.sweep()`` (fan-out of what is left, the claimable count);
3. the claim: every public function of ``due``, ``claim_sql``, ``claims`` and
   ``ownership`` (see MODULES), in source order, with arguments chosen by parameter name (see
   ``arguments()``); a function with a parameter it has no value for is listed
   as not called; ``due``'s are also called before the backlog, at rest;
4. the recording: ``recording.write()`` of results for what the claim leased
   (most 200, one in 10 a 503 to retry).

Nothing is copied from the engine, so the output follows the code. Each
statement is planned ``--repeat`` times (the last plan is printed, with the
median execution time); plans that scan a history table sequentially or sort
many rows are listed first as warnings. Wake-ups are never sent: the
transaction never commits and the sweep's are counted, not published.
The database is PostgreSQL at ``--database-url``, by default the one
``benchmarks/engine.py`` uses, so that both share their templates (the scratch
database ``webhooks_bench`` is dropped and created, and the copy is
``webhooks_bench_copy``: do not run both at once).
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODULES = (
    "webhooks_app.sending.due",
    "webhooks_app.sending.claim_sql",
    "webhooks_app.sending.claims",
    "webhooks_app.sending.ownership",
)
"""Whose public functions are called, in this order (read-only ``due`` first); a module
that does not exist (yet) is left out."""

HISTORY_TABLES = ("webhooks_app_event", "webhooks_app_delivery", "webhooks_app_attempt")
BIG_SORT = 5000  # rows: a Sort node over more than this is worth a look


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=1_000_000, help="old deliveries")
    parser.add_argument("--history-rebuild", action="store_true", help="load the template again")
    parser.add_argument("--backlog", type=int, default=2000, help="events fanned out and claimed")
    parser.add_argument("--endpoints", type=int, default=10, help="live endpoints they go to")
    parser.add_argument("--repeat", type=int, default=3, help="EXPLAIN ANALYZE runs per statement")
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/webhooks_bench"
    )
    parser.add_argument(
        "--before",
        action="append",
        default=[],
        metavar="SQL",
        help="run on the copy first (then ANALYZE), e.g. a CREATE INDEX to try before a migration",
    )
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    return parser.parse_args(argv)


def setup_django(args: argparse.Namespace) -> None:
    from benchmarks.engine_support import services

    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.engine_support.settings"
    os.environ["BENCH_DATABASE_URL"] = args.database_url
    services.loopback_only(args.database_url)
    services.ensure_postgres(args.database_url)
    services.recreate_database(args.database_url)
    import django

    django.setup()


# -- what runs --------------------------------------------------------------------------------


def prepare(statements: list[str]) -> None:
    """Run ``statements`` on the copy (committed), then refresh the planner's statistics."""
    if not statements:
        return
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
        cursor.execute("ANALYZE")


def arguments(live: dict[int, Any]) -> dict[str, Any]:
    """Values for the parameters of the functions of MODULES, by parameter name.

    The hook for the engine's authors: a claim or due function whose parameters
    all have a name here is explained without any change to this script.
    """
    from django.utils import timezone

    from webhooks_app import conf
    from webhooks_app.sending.due import Due, allowed_in_flight

    now = timezone.now()
    cap = conf.get("MAX_IN_FLIGHT_PER_ENDPOINT")
    return {
        "now": now,
        "due": Due.at(now),
        "limit": conf.get("BATCH_SIZE"),
        "cap": cap,
        "room": {pk: allowed_in_flight(endpoint, cap) for pk, endpoint in live.items()},
        "until": now + timedelta(seconds=conf.lease_seconds()),
        "endpoints": live,
        "endpoint": next(iter(live.values())),
        "endpoint_ids": list(live),
        "owner": "explain@127.0.0.1",
        "me": "explain@127.0.0.1",
    }


def public_functions(module_name: str) -> list[tuple[str, Callable]]:
    """The module's own public functions, in source order (none if there is no module)."""
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as missing:
        if missing.name != module_name:
            raise
        return []
    found = [
        (name, value)
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module_name and name[0] != "_"
    ]
    return sorted(found, key=lambda item: inspect.getsourcelines(item[1])[1])


def call_by_name(function: Callable, values: dict[str, Any]) -> tuple[bool, Any]:
    """Call ``function`` with the values its parameters are named after; (False, missing
    names) when it has a required parameter with no value."""
    signature = inspect.signature(function)
    missing = [
        name
        for name, parameter in signature.parameters.items()
        if name not in values and parameter.default is inspect.Parameter.empty
    ]
    if missing:
        return False, missing
    given = {name: values[name] for name in signature.parameters if name in values}
    return True, function(**given)


class Report:
    """The statements of each step, explained as they run."""

    def __init__(self, repeat: int) -> None:
        self.repeat = repeat
        self.sections: list[tuple[str, list[Any]]] = []
        self.skipped: dict[str, str] = {}  # function: the parameters with no value

    @contextmanager
    def recording(self, title: str) -> Iterator[None]:
        """Explain the statements run meanwhile, under ``title`` (left out if none ran)."""
        from benchmarks.engine_support import statements

        with statements.recorded(self.repeat) as seen:
            yield
        if any(statement.plans for statement in seen):
            self.sections.append((title, seen))


def run_paths(args: argparse.Namespace, report: Report) -> None:
    from django.db import transaction

    from benchmarks.engine_support.contenders import EVENT_TYPE, ours_payload
    from webhooks_app import send_event
    from webhooks_app.models import Delivery, Endpoint
    from webhooks_app.sending import fanout, recording, sweep

    with transaction.atomic():
        live = {
            endpoint.pk: endpoint
            for endpoint in Endpoint.objects.bulk_create(
                Endpoint(url=f"https://127.0.0.1:9/live/{n}", secret="whsec_" + "A" * 43 + "=")
                for n in range(args.endpoints)
            )
        }
        with report.recording("At rest (history only): the sweep"):
            with mock.patch.object(sweep, "wake_up"):
                sweep.sweep()
        call_functions(MODULES[:1], arguments(live), "At rest", report)

        for number in range(args.backlog):
            send_event(EVENT_TYPE, ours_payload(number))
        with report.recording(f"Fan-out: {args.backlog:,} events to {args.endpoints} endpoints"):
            fanout.expand_pending()
        with report.recording("The sweep with the backlog (its wake-ups not sent)"):
            with mock.patch.object(sweep, "wake_up"):
                sweep.sweep()
        values = arguments(live)
        call_functions(MODULES, values, "Backlog", report)

        leased = Delivery.objects.filter(
            status=Delivery.Status.PENDING, locked_until__gt=values["now"]
        ).select_related("event", "endpoint")
        results = _results(list(leased[: values["limit"]]))
        with report.recording(f"Recording {len(results)} tries (one in 10 to retry)"):
            recording.write(results)
        transaction.set_rollback(True)


def call_functions(modules: tuple[str, ...], values: dict[str, Any], when: str, report: Report):
    """Each public function of ``modules`` that runs statements, called with ``values``."""
    for module in modules:
        for name, function in public_functions(module):
            short = f"{module.rsplit('.', 1)[-1]}.{name}"
            with report.recording(f"{when}: `{short}`"):
                called, result = call_by_name(function, values)
            if not called and short not in report.skipped:
                report.skipped[short] = ", ".join(result)


def _results(leased: list[Any]) -> list[Any]:
    from webhooks_app import conf, retry
    from webhooks_app.sending.results import Result
    from webhooks_app.transport import Response

    results = []
    for number, delivery in enumerate(leased):
        status = 503 if number % 10 == 9 else 200
        decision = retry.decide(delivery.attempt_count, status, None, conf.get("RETRY_SCHEDULE"))
        response = Response(status, "ok" if status == 200 else "busy", {}, 25)
        results.append(Result(delivery, response, decision))
    return results


# -- the report -------------------------------------------------------------------------------

EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")


def execution_ms(plan: str) -> float:
    found = EXECUTION.search(plan)
    return float(found.group(1)) if found else float("nan")


def warnings(plan: str) -> list[str]:
    """What looks wrong in a plan: a sequential scan of a history table, a big sort."""
    found = []
    for line in plan.splitlines():
        text = line.strip().lstrip("-> ").strip()
        if text.startswith("Seq Scan on") and any(table in text for table in HISTORY_TABLES):
            found.append(text)
        if text.startswith("Sort ") and (rows := re.search(r"actual time=\S+ rows=(\d+)", text)):
            if int(rows.group(1)) > BIG_SORT:
                found.append(text)
    return found


BUFFERS = re.compile(r"Buffers: shared((?: \w+=\d+)+)")
TABLE = re.compile(r"(?:FROM|INTO|UPDATE)\s+\"?(\w+)\"?", re.IGNORECASE)


def buffers(plan: str) -> int:
    """Shared buffers the whole statement touched (the top node's count)."""
    found = BUFFERS.search(plan)
    return sum(int(part.split("=")[1]) for part in found.group(1).split()) if found else 0


def what(sql: str) -> str:
    """``UPDATE webhooks_app_delivery``: the statement's verb and first table."""
    table = TABLE.search(sql)
    verb = sql.split(None, 1)[0].upper()
    return f"{verb} {table.group(1) if table else ''}".strip()


def render(report: Report, header: list[str]) -> str:
    lines = [*header, ""]
    flagged = []
    summary: list[str] = []
    body: list[str] = []
    for title, seen in report.sections:
        body += [f"## {title}", ""]
        explained = [statement for statement in seen if statement.plans]
        groups: dict[tuple[str, str], list[Any]] = {}
        for statement in explained:
            groups.setdefault((statement.origin, shape(statement.sql)), []).append(statement)
        for (where, _shape), group in groups.items():
            first = group[0]
            times = [execution_ms(plan) for statement in group for plan in statement.plans]
            count = f"{len(group)} such statements, the first shown; " if len(group) > 1 else ""
            body += [
                f"### `{where}`",
                "",
                f"{count}execution {statistics.median(times):.2f} ms (median of "
                f"{len(times)} EXPLAIN ANALYZE runs), "
                f"{sum(statement.seconds for statement in group) * 1000:.2f} ms as run.",
                "",
                "```sql",
                _shorten(first.sql),
                "```",
                "",
                "```text",
                first.plans[-1],
                "```",
                "",
            ]
            flagged += [f"`{where}`: {text}" for text in warnings(first.plans[-1])]
            summary.append(
                f"| {title} | `{where}` | {what(first.sql)} | {len(group)} | "
                f"{statistics.median(times):.2f} | {buffers(first.plans[-1]):,} |"
            )
    lines += [
        "## Summary",
        "",
        "| step | issued by | statement | count | execution ms (median) | buffers |",
        "| --- | --- | --- | --- | --- | --- |",
        *summary,
        "",
        "## Warnings",
        "",
    ]
    lines += [f"- {line}" for line in flagged] or ["None: no sequential scan of a history "
                                                   f"table, no sort of more than {BIG_SORT:,} "
                                                   "rows."]  # fmt: skip
    lines.append("")
    if report.skipped:
        lines += [
            "Not called, for a parameter with no value in `arguments()`: "
            + ", ".join(f"`{name}` ({missing})" for name, missing in report.skipped.items())
            + ".",
            "",
        ]
    return "\n".join(lines + body).rstrip() + "\n"


PARAMETERS = re.compile(r"(%s|%\(\w+\)s)(, (%s|%\(\w+\)s))*")
ROWS = re.compile(r"\(\?\)(, \(\?\))+")


def shape(sql: str) -> str:
    """``sql`` with its lists of parameters (and of VALUES rows) each as one ``?``: the same
    statement for another number of rows."""
    return ROWS.sub("(?)", PARAMETERS.sub("?", sql))


def _shorten(sql: str, limit: int = 4000) -> str:
    """Long IN lists cut down: the plan shows what matters."""
    sql = re.sub(r"(%s, ){8,}%s", "%s, … %s", sql)
    return sql if len(sql) <= limit else sql[: limit - 20] + f" … ({len(sql):,} chars)"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    setup_django(args)
    from benchmarks.engine_support import history

    def log(line: str) -> None:
        print(f"[explain.py] {line}", file=sys.stderr, flush=True)

    templates, _built = history.ensure_templates(
        args.database_url, args.history, rebuild=args.history_rebuild, log=log
    )
    report = Report(args.repeat)
    copy = f"{history.database_name(args.database_url)}_copy"
    with history.copy_of(args.database_url, templates.history, copy):
        prepare(args.before)
        sizes = history.sizes()
        run_paths(args, report)
    from django.db import connection

    from benchmarks.engine_support import services

    tables = "; ".join(
        f"`{name}` {rows:,} rows ({size / 2**20:,.0f} MiB)" for name, rows, size in sizes
    )
    header = [
        "# The engine's hot statements on a database with history",
        "",
        f"Command: `{shlex.join(['python', 'benchmarks/explain.py', *argv])}`",
        "",
        f"- PostgreSQL {services.postgres_version(connection)}, a copy of `{templates.history}`: "
        + tables,
        f"- Live work: {args.backlog:,} events to {args.endpoints} endpoints, in the "
        "transaction (so not in the planner's statistics, as between two autovacuum runs); "
        f"each statement planned {args.repeat} times; took {time.monotonic() - started:.0f} s",
        *(f"- Run on the copy first: `{sql}`" for sql in args.before),
    ]  # fmt: skip
    text = render(report, header)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
