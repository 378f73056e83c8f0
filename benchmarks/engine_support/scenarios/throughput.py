"""Scenario 1, throughput: N deliveries of ~1 KiB produced in groups of 100, per contender.

The clock runs from the first group's start to the last delivery done (each
contender's ``done_means``), polled every ~10 ms. Contenders alternate within
the run: round r starts with the r-th contender (B, peer, ours; then peer,
ours, B; ...), so slow drifts of the machine hit every contender alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from benchmarks.engine_support.bench import Bench
from benchmarks.engine_support.contenders import Contender, all_contenders
from benchmarks.engine_support.processes import wait_until
from benchmarks.engine_support.profiling import Profiler
from benchmarks.engine_support.report import Section, fmt, fmt_ratio, median, ratio

CPU_ROLES = ("worker main", "worker pool", "receiver", "producer", "postgres", "redis")


@dataclass
class Run:
    key: str
    round: int
    count: int
    seconds: float  # first group's start -> last delivery done
    produced: float  # first group's start -> last group committed / published
    to_last_arrival: float  # first group's start -> last request at the receiver
    arrivals: int
    body_bytes: float
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def measure(
    bench: Bench,
    contender: Contender,
    count: int,
    round_number: int,
    profile: bool = False,
    *,
    keep_rows: bool = False,
) -> Run:
    """One contender run with a fresh worker; CPU is measured over the clocked window.

    ``keep_rows``: on the database as it is, not emptied first (history).
    """
    group = bench.args.group
    with bench.worker(f"throughput-{contender.key}", keep_rows=keep_rows) as worker:
        contender.prepare(bench)
        profiler = None
        if profile:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            profiler = Profiler(
                worker.pid, bench.results_dir / f"profile-{contender.key}-{stamp}.txt"
            )
        meter = bench.cpu_meter(worker)
        meter.start()
        started = time.time()
        contender.produce(bench, count, group)
        produced = time.time()
        seen: list[tuple[int, float]] = []

        def finished() -> bool:
            seen.append(contender.done(bench))
            return seen[-1][0] >= count

        wait_until(
            finished,
            timeout=bench.args.timeout,
            what=lambda: (
                f"{count} deliveries by {contender.key} ({contender.done_means}); "
                f"saw {seen[-1][0] if seen else 0}, receiver {bench.receiver.stats()['count']}"
            ),
        )
        ended = seen[-1][1]
        cpu = meter.delta()
        stats = bench.receiver.stats()
        if profiler is not None:
            summary = profiler.stop()
            bench.facts["profile"] = f"`{profiler.output}` (summary: `{summary}`)"
            bench.facts["profile_head"] = "\n".join(summary.read_text().splitlines()[:16])
    return Run(
        key=contender.key,
        round=round_number,
        count=count,
        seconds=ended - started,
        produced=produced - started,
        to_last_arrival=stats["last_arrival"] - started,
        arrivals=stats["count"],
        body_bytes=stats["body_bytes"] / max(1, stats["count"]),
        cpu=cpu,
    )


def run(bench: Bench) -> tuple[Section, float]:
    """All rounds; returns the section and ours' median deliveries/s (for latency's pace)."""
    args = bench.args
    contenders = all_contenders()
    by_key = {contender.key: contender for contender in contenders}
    section = Section(f"1. Throughput: {args.events} deliveries, groups of {args.group}")
    runs: list[Run] = []
    orders: list[str] = []
    for number in range(args.rounds):
        shift = number % len(contenders)
        order = contenders[shift:] + contenders[:shift]
        orders.append(", ".join(contender.key for contender in order))
        for contender in order:
            runs.append(measure(bench, contender, args.events, number + 1))
    if args.profile:
        measure(bench, by_key["ours"], args.events, 0, profile=True)

    rate = {key: median(r.rate for r in runs if r.key == key) for key in by_key}
    section.text(
        "Clock: from the first group's start to the last delivery done, where done means: "
        + "; ".join(f"{c.key}: {c.done_means}" for c in contenders)
        + ". Median of the rounds; ratios are to the same run's figures."
    )
    section.text()
    section.table(
        ["contender", "deliveries/s (median)", "x B", "ours x", "per round"],
        [
            (
                by_key[key].title,
                fmt(rate[key]),
                fmt_ratio(ratio(rate[key], rate["B"])),
                fmt_ratio(ratio(rate["ours"], rate[key])),
                ", ".join(fmt(r.rate) for r in runs if r.key == key),
            )
            for key in by_key
        ],
    )
    section.table(
        ["round", "order", "B /s", "peer /s", "ours /s", "ours/B", "ours/peer"],
        [
            (
                number + 1,
                orders[number],
                *(fmt(_rate(runs, key, number + 1)) for key in ("B", "peer", "ours")),
                fmt_ratio(ratio(_rate(runs, "ours", number + 1), _rate(runs, "B", number + 1))),
                fmt_ratio(ratio(_rate(runs, "ours", number + 1), _rate(runs, "peer", number + 1))),
            )
            for number in range(args.rounds)
        ],
    )
    section.text(
        "Where the time went (medians): seconds until everything was produced (committed or "
        "published), until the last request reached the receiver, and until done; requests the "
        "receiver saw (more than N means duplicates) and their mean body size."
    )
    section.text()
    section.table(
        ["contender", "produced s", "last arrival s", "done s", "requests seen", "body bytes"],
        [
            (
                key,
                fmt(median(r.produced for r in runs if r.key == key), 3),
                fmt(median(r.to_last_arrival for r in runs if r.key == key), 3),
                fmt(median(r.seconds for r in runs if r.key == key), 3),
                "/".join(str(r.arrivals) for r in runs if r.key == key),
                fmt(median(r.body_bytes for r in runs if r.key == key), 0),
            )
            for key in by_key
        ],
    )
    _cpu_table(section, runs, list(by_key))
    if args.profile:
        section.text(
            "py-spy profile of an extra ours run (not in the medians; collapsed stacks, "
            f"open in speedscope.app): {bench.facts['profile']}"
        )
        section.text()
        section.lines += ["```", bench.facts["profile_head"], "```", ""]
    section.target(
        "ours ≥ 2 x B",
        rate["ours"] >= 2 * rate["B"],
        f"ours/B = {fmt_ratio(ratio(rate['ours'], rate['B']))}",
    )
    section.target(
        "ours ≥ 3 x peer",
        rate["ours"] >= 3 * rate["peer"],
        f"ours/peer = {fmt_ratio(ratio(rate['ours'], rate['peer']))}",
    )
    return section, rate["ours"]


def _rate(runs: list[Run], key: str, round_number: int) -> float:
    return next(r.rate for r in runs if r.key == key and r.round == round_number)


def _cpu_table(section: Section, runs: list[Run], keys: list[str]) -> None:
    section.text(
        "CPU seconds per process over the clocked window (medians; /proc utime+stime; worker "
        "pool = its prefork children; postgres = the backends connected to the scratch "
        "database, without the cluster's background processes). The producer's figure "
        "includes polling for completion every ~10 ms."
    )
    section.text()
    header = ["contender", *CPU_ROLES, "total", "CPU ms / delivery"]
    rows = []
    for key in keys:
        mine = [r for r in runs if r.key == key]
        cells = [median(r.cpu.get(role, 0.0) for r in mine) for role in CPU_ROLES]
        total = median(sum(r.cpu.values()) for r in mine)
        rows.append(
            (
                key,
                *(fmt(cell, 2) for cell in cells),
                fmt(total, 2),
                fmt(total * 1000 / mine[0].count, 2),
            )
        )
    section.table(header, rows)
