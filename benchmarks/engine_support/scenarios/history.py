"""Scenario 6, history: does the engine slow down as the tables fill up?

Ours' throughput on a database holding ``--history`` old deliveries (with their
events and attempts; :mod:`benchmarks.engine_support.history` describes the mix)
against an empty one, alternated round by round, each run on a fresh copy of
its template. On each copy, before the worker starts, a few sweep passes with
nothing to do (the sweep's fixed cost); after the throughput run, one pass
that finds ``--history-backlog`` events left unexpanded (fan-out, then the
count of claimable deliveries). Statement times are split by the module of the
app that ran them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field

from benchmarks.engine_support import history, services, statements
from benchmarks.engine_support.bench import Bench
from benchmarks.engine_support.contenders import Ours
from benchmarks.engine_support.report import Section, fmt, fmt_ratio, median, ratio
from benchmarks.engine_support.scenarios import throughput

KINDS = ("empty", "history")
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
class Round:
    kind: str
    number: int
    run: throughput.Run
    resting: list[Sweep]
    backlog: Sweep


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
        contender = OursOnHistory("ours", f"ours on {kind}", "Attempt rows recorded after start")
        run = throughput.measure(bench, contender, args.events, number, keep_rows=True)
        contender.produce(bench, args.history_backlog, args.group, first=args.events)
        backlog = timed_sweep()
        services.flush_redis(args.broker_url)  # the backlog's and the sweep's wake-ups
        if kind == "history" and "history_sizes" not in bench.facts:
            bench.facts["history_sizes"] = "; ".join(
                f"`{table}` {rows:,} rows, {size / 2**20:,.1f} MiB"
                for table, rows, size in history.sizes()
            )
    return Round(kind, number, run, resting, backlog)


def run(bench: Bench) -> Section:
    args = bench.args
    section = Section(
        f"6. History: ours with {args.history:,} old deliveries against an empty database"
    )
    templates, built = history.ensure_templates(
        args.database_url, args.history, rebuild=args.history_rebuild, log=_log
    )
    template = {"empty": templates.empty, "history": templates.history}
    copy = f"{history.database_name(args.database_url)}_copy"
    rounds: list[Round] = []
    for number in range(1, args.rounds + 1):
        order = KINDS if number % 2 else tuple(reversed(KINDS))
        for kind in order:
            rounds.append(measure(bench, kind, template[kind], number, copy))

    _describe(section, args, templates, built, bench.facts.get("history_sizes", ""))
    rate = {kind: median(r.run.rate for r in rounds if r.kind == kind) for kind in KINDS}
    _throughput_tables(section, rounds, args.rounds, rate)
    resting, backlog = _sweep_table(section, rounds, args.history_backlog)
    section.target(
        f"throughput with history ≥ {THROUGHPUT_TARGET} x empty",
        rate["history"] >= THROUGHPUT_TARGET * rate["empty"],
        f"history/empty = {fmt_ratio(ratio(rate['history'], rate['empty']))}",
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


def _throughput_tables(
    section: Section, rounds: list[Round], count: int, rate: dict[str, float]
) -> None:
    def one(kind: str, number: int) -> throughput.Run:
        return next(r.run for r in rounds if r.kind == kind and r.number == number)

    section.table(
        ["round", "order", "empty /s", "history /s", "history/empty"],
        [
            (
                number,
                ", ".join(r.kind for r in rounds if r.number == number),
                fmt(one("empty", number).rate),
                fmt(one("history", number).rate),
                fmt_ratio(ratio(one("history", number).rate, one("empty", number).rate)),
            )
            for number in range(1, count + 1)
        ],
    )
    section.text(
        "Medians: deliveries/s and CPU ms per delivery (all processes; PostgreSQL's backends "
        "of the copy apart)."
    )
    section.text()
    cpu = {kind: [r.run for r in rounds if r.kind == kind] for kind in KINDS}
    section.table(
        ["database", "deliveries/s", "CPU ms / delivery", "of which PostgreSQL", "ratio /s"],
        [
            (
                kind,
                fmt(rate[kind]),
                fmt(median(sum(r.cpu.values()) * 1000 / r.count for r in cpu[kind]), 2),
                fmt(median(r.cpu.get("postgres", 0.0) * 1000 / r.count for r in cpu[kind]), 2),
                fmt_ratio(ratio(rate[kind], rate["empty"])),
            )
            for kind in KINDS
        ],
    )


def _sweep_table(section: Section, rounds: list[Round], backlog: int) -> tuple[float, float]:
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
    for kind in KINDS:
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
