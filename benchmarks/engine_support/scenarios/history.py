"""Scenario 6, history: does the engine slow down as the tables fill up?

Ours' throughput on a database holding ``--history`` old deliveries (with their
events and attempts; :mod:`benchmarks.engine_support.history` describes the mix)
against an empty one, and on the same history while ``webhooks_prune --days
D`` runs (``--history-prune-days``; 0 leaves it out), alternated round by round,
each run on a fresh copy of its template. On each copy, before the worker
starts, a few sweep passes with nothing to do (the sweep's fixed cost); after
the throughput run, one pass that finds ``--history-backlog`` events left
unexpanded (fan-out, then the count of claimable deliveries), and on the
history copy the same prune alone. Statement times are split by the module of
the app that ran them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from unittest import mock

from benchmarks.engine_support import history, services, statements
from benchmarks.engine_support.bench import Bench
from benchmarks.engine_support.contenders import Ours
from benchmarks.engine_support.report import Section, fmt, fmt_ratio, median, ratio
from benchmarks.engine_support.scenarios import throughput

KINDS = ("empty", "history", "pruning")
RESTING_PASSES = 5
SWEEP_TARGET_SECONDS = 2.0
THROUGHPUT_TARGET = 0.8


class OursOnHistory(Ours):
    """ours, counting only the Attempts written after :meth:`prepare`: the history has its own,
    and counting them all every 10 ms would measure the poll."""

    def prepare(self, bench: Bench, paths: tuple[str, ...] = ("/ours",)) -> None:
        from django.db.models import Max

        from webhooks_app.models import Attempt

        super().prepare(bench, paths)
        self.first = Attempt.objects.aggregate(last=Max("pk"))["last"] or 0

    def done(self, bench: Bench) -> tuple[int, float]:
        from webhooks_app.models import Attempt

        return Attempt.objects.filter(pk__gt=self.first).count(), time.time()


@dataclass
class Sweep:
    seconds: float
    claimable: int
    by_module: dict[str, float] = field(default_factory=dict)


@dataclass
class Prune:
    """One ``webhooks_prune`` run: its time, and each batch's transaction."""

    seconds: float = 0.0
    deleted: int = 0
    transactions: list[float] = field(default_factory=list)
    error: str = ""


@dataclass
class Round:
    kind: str
    number: int
    run: throughput.Run
    resting: list[Sweep]
    backlog: Sweep
    prune: Prune | None = None


def timed_prune(days: float) -> Prune:
    """``webhooks_prune --days days`` in this thread, each batch's transaction timed."""
    from django.core.management import call_command
    from django.db import connection

    from webhooks_app.sending import retention

    found = Prune()
    delete = retention.delete_events

    def timed(ids: list[str]) -> int:
        started = time.perf_counter()
        deleted = delete(ids)
        found.transactions.append(time.perf_counter() - started)
        found.deleted += deleted
        return deleted

    started = time.perf_counter()
    try:
        with mock.patch.object(retention, "delete_events", timed):
            call_command("webhooks_prune", "--days", str(days), verbosity=0)
    except Exception as exc:  # reported in the section; the throughput figure still stands
        found.error = repr(exc)
    found.seconds = time.perf_counter() - started
    connection.close()
    return found


class PruneAlongside:
    """:func:`timed_prune` on a thread of its own (its own database connection)."""

    def __init__(self, days: float) -> None:
        self.result = Prune()
        self.thread = threading.Thread(target=self._run, args=(days,), name="bench-prune")

    def _run(self, days: float) -> None:
        self.result = timed_prune(days)

    def __enter__(self) -> PruneAlongside:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join()


def timed_sweep() -> Sweep:
    """One pass of the sweep, its statements' time by module."""
    from webhooks_app.sending.sweep import sweep

    with statements.recorded() as seen:
        started = time.perf_counter()
        claimable = sweep()
        seconds = time.perf_counter() - started
    return Sweep(seconds, claimable, statements.seconds_by_origin(seen))


def measure(bench: Bench, kind: str, template: str, number: int, copy: str) -> Round:
    args = bench.args
    with history.copy_of(args.database_url, template, copy) as url, bench.on_database(url):
        bench.apply(bench.webhooks())
        resting = [timed_sweep() for _ in range(RESTING_PASSES)]
        if kind == "history" and "history_sizes" not in bench.facts:
            bench.facts["history_sizes"] = "; ".join(
                f"`{table}` {rows:,} rows, {size / 2**20:,.1f} MiB"
                for table, rows, size in history.sizes()
            )
        contender = OursOnHistory("ours", f"ours on {kind}", "Attempt rows recorded after start")
        prune = None
        if kind == "pruning":
            with PruneAlongside(args.history_prune_days) as alongside:
                run = throughput.measure(bench, contender, args.events, number, keep_rows=True)
            prune = alongside.result
        else:
            run = throughput.measure(bench, contender, args.events, number, keep_rows=True)
        contender.produce(bench, args.history_backlog, args.group, first=args.events)
        backlog = timed_sweep()
        services.flush_redis(args.broker_url)  # the backlog's and the sweep's wake-ups
        if kind == "history" and args.history_prune_days:
            prune = timed_prune(args.history_prune_days)
    return Round(kind, number, run, resting, backlog, prune)


def run(bench: Bench) -> Section:
    args = bench.args
    section = Section(
        f"6. History: ours with {args.history:,} old deliveries against an empty database"
    )
    templates, built = history.ensure_templates(
        args.database_url, args.history, rebuild=args.history_rebuild, log=_log
    )
    copy = f"{history.database_name(args.database_url)}_copy"
    kinds = KINDS if args.history_prune_days else KINDS[:2]
    template = {"empty": templates.empty, "history": templates.history}
    template["pruning"] = templates.history
    rounds: list[Round] = []
    for number in range(1, args.rounds + 1):
        shift = (number - 1) % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:
            rounds.append(measure(bench, kind, template[kind], number, copy))

    _describe(section, args, templates, built, bench.facts.get("history_sizes", ""))
    rate = {kind: median(r.run.rate for r in rounds if r.kind == kind) for kind in kinds}
    _throughput_tables(section, rounds, kinds, rate)
    resting, backlog = _sweep_table(section, rounds, kinds, args.history_backlog)
    if args.history_prune_days:
        _prune_table(section, rounds, args.history_prune_days)
    # Judged on the rounds' own ratios: the two runs of a round are minutes apart, the
    # rounds may not be (a shared machine's load drifts).
    per_round = median(round_ratios(rounds, "history", "empty"))
    section.target(
        f"throughput with history ≥ {THROUGHPUT_TARGET} x empty",
        per_round >= THROUGHPUT_TARGET,
        f"history/empty = {fmt_ratio(per_round)} (median of the rounds' ratios; ratio of "
        f"the medians {fmt_ratio(ratio(rate['history'], rate['empty']))})",
    )
    worst = max(resting, backlog)
    section.target(
        f"one sweep pass with history < {SWEEP_TARGET_SECONDS:.0f} s",
        worst < SWEEP_TARGET_SECONDS,
        f"{fmt(resting * 1000)} ms with nothing to do, {fmt(backlog * 1000)} ms with "
        f"{args.history_backlog:,} events to fan out (medians)",
    )
    return section


def _log(line: str) -> None:
    print(f"[engine.py] history: {line}", file=sys.stderr, flush=True)


def _describe(
    section: Section,
    args: argparse.Namespace,
    templates: history.Templates,
    built: dict[str, float],
    sizes: str,
) -> None:
    builds = (
        "; ".join(f"`{name}` built in {seconds:.0f} s" for name, seconds in built.items())
        or "both reused (same fingerprint)"
    )
    section.text(
        f"Templates `{templates.history}` and `{templates.empty}` ({builds}); every run works "
        "on a fresh `CREATE DATABASE … TEMPLATE` copy. History: "
        f"{history.TENANTS} tenants x {history.ENDPOINTS_PER_TENANT} endpoints (1 in "
        f"{history.DISABLED_EVERY} disabled), an event per two deliveries over "
        f"{history.SPAN_DAYS} days; ~94 % succeeded, ~5 % failed, ~1 % pending with their next "
        "try 1 h to 2 days ahead; one Attempt per try. "
        f"{sizes}. New events go to one endpoint of another tenant."
    )
    section.text()


def round_ratios(rounds: list[Round], kind: str, baseline: str) -> list[float]:
    """``kind``'s deliveries/s over ``baseline``'s, round by round."""

    def rate(name: str, number: int) -> float:
        return next(r.run.rate for r in rounds if r.kind == name and r.number == number)

    numbers = sorted({r.number for r in rounds})
    return [ratio(rate(kind, number), rate(baseline, number)) for number in numbers]


def _throughput_tables(
    section: Section, rounds: list[Round], kinds: tuple[str, ...], rate: dict[str, float]
) -> None:
    def one(kind: str, number: int) -> float:
        return next(r.run.rate for r in rounds if r.kind == kind and r.number == number)

    ratios = [("history", "empty"), ("pruning", "history")][: len(kinds) - 1]
    numbers = sorted({r.number for r in rounds})
    section.table(
        ["round", "order", *(f"{kind} /s" for kind in kinds), *(f"{a}/{b}" for a, b in ratios)],
        [
            (
                number,
                ", ".join(r.kind for r in rounds if r.number == number),
                *(fmt(one(kind, number)) for kind in kinds),
                *(fmt_ratio(ratio(one(a, number), one(b, number))) for a, b in ratios),
            )
            for number in numbers
        ],
    )
    section.text(
        "Median of the rounds' ratios: "
        + ", ".join(f"{a}/{b} {fmt_ratio(median(round_ratios(rounds, a, b)))}" for a, b in ratios)
        + ". Medians: deliveries/s and CPU ms per delivery (all processes; PostgreSQL's "
        "backends of the copy apart; with the prune running, its backend counts too)."
    )
    section.text()
    cpu = {kind: [r.run for r in rounds if r.kind == kind] for kind in kinds}
    section.table(
        ["database", "deliveries/s", "CPU ms / delivery", "of which PostgreSQL", "x empty"],
        [
            (
                kind,
                fmt(rate[kind]),
                fmt(median(sum(r.cpu.values()) * 1000 / r.count for r in cpu[kind]), 2),
                fmt(median(r.cpu.get("postgres", 0.0) * 1000 / r.count for r in cpu[kind]), 2),
                fmt_ratio(ratio(rate[kind], rate["empty"])),
            )
            for kind in kinds
        ],
    )


def _prune_table(section: Section, rounds: list[Round], days: float) -> None:
    section.text(
        f"`webhooks_prune --days {days:g}` on the history copy: alone (after the throughput "
        "run), and alongside the worker (started with it; the throughput above is measured "
        "meanwhile). Medians over the rounds; a transaction is one batch of 1,000 events."
    )
    section.text()
    found: list[tuple[str, list[Prune]]] = [
        ("alone", [r.prune for r in rounds if r.kind == "history" and r.prune]),
        ("alongside the worker", [r.prune for r in rounds if r.kind == "pruning" and r.prune]),
    ]
    section.table(
        ["prune", "events deleted", "seconds", "events/s", "transaction ms: median", "max",
         "errors"],
        [
            (
                label,
                "/".join(f"{p.deleted:,}" for p in prunes),
                fmt(median(p.seconds for p in prunes)),
                fmt(median(p.deleted / p.seconds for p in prunes if p.seconds), 0),
                fmt(median(t for p in prunes for t in p.transactions) * 1000),
                fmt(max((t for p in prunes for t in p.transactions), default=0.0) * 1000),
                "; ".join(p.error for p in prunes if p.error) or "none",
            )
            for label, prunes in found
            if prunes
        ],
    )  # fmt: skip


def _sweep_table(
    section: Section, rounds: list[Round], kinds: tuple[str, ...], backlog: int
) -> tuple[float, float]:
    """The sweep's figures; returns history's medians (at rest, with the backlog) in seconds."""
    section.text(
        f"The sweep (`sweep()`: fan-out of events left over, then the count of claimable "
        f"deliveries): {RESTING_PASSES} passes with nothing to do before each throughput run, "
        f"and one pass after it with {backlog:,} events left unexpanded (sent with no worker "
        "running). Medians over the rounds, ms; statement time split by the module that ran "
        "it."
    )
    section.text()
    rows, medians = [], {}
    for kind in kinds:
        mine = [r for r in rounds if r.kind == kind]
        resting = median(s.seconds for r in mine for s in r.resting)
        loaded = median(r.backlog.seconds for r in mine)
        modules = sorted({m for r in mine for m in r.backlog.by_module})
        parts = {
            module: median(r.backlog.by_module.get(module, 0) for r in mine) for module in modules
        }
        parts["other (Python, broker)"] = loaded - sum(parts.values())
        split = ", ".join(f"{module} {fmt(seconds * 1000)}" for module, seconds in parts.items())
        rows.append(
            (
                kind,
                fmt(resting * 1000, 2),
                fmt(loaded * 1000),
                split or "n/a",
                "/".join(str(r.backlog.claimable) for r in mine),
            )
        )
        medians[kind] = (resting, loaded)
    section.table(
        ["database", "at rest ms", "with backlog ms", "backlog: statements by module, ms",
         "claimable counted"],
        rows,
    )  # fmt: skip
    spread = [s.seconds for r in rounds if r.kind == "history" for s in r.resting]
    if len(spread) > 1:
        section.text(
            f"History at rest, all passes: {fmt(min(spread) * 1000, 2)} to "
            f"{fmt(max(spread) * 1000, 2)} ms (stdev {fmt(statistics.stdev(spread) * 1000, 2)})."
        )
        section.text()
    return medians["history"]
