"""Scenario 2, latency: ours and B at a steady pace, one delivery at a time.

The pace is a third of ours' measured throughput (or ``--latency-rate``), so
the worker is never the queue: what is measured is the path of one delivery,
from the producer's commit (ours) or publish (B) to its arrival at the
receiver, matched by ``webhook-id``. Both clocks are the same machine's wall
clock (``time.time()``), in two processes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.engine_support.bench import Bench
from benchmarks.engine_support.contenders import Bare, Ours
from benchmarks.engine_support.processes import wait_until
from benchmarks.engine_support.report import (
    Section,
    fmt,
    fmt_ms,
    fmt_ratio,
    median,
    percentile,
    ratio,
)

DEFAULT_RATE = 50.0  # events/s when throughput was not measured in this run


@dataclass
class LatencyRun:
    key: str
    round: int
    latencies: list[float]
    achieved_rate: float

    def p(self, share: float) -> float:
        return percentile(self.latencies, share)


def paced(
    send_one: Callable[[int], tuple[str, float]], count: int, rate: float
) -> tuple[dict[str, float], float]:
    """Call ``send_one(i)`` at ``rate`` per second; returns {id: sent time} and the real rate."""
    sent: dict[str, float] = {}
    started = time.monotonic()
    for number in range(count):
        pause = started + number / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        message_id, when = send_one(number)
        sent[message_id] = when
    elapsed = time.monotonic() - started
    return sent, (count - 1) / elapsed if count > 1 and elapsed > 0 else math.nan


def arrival_latencies(bench: Bench, sent: dict[str, float], paths: set[str]) -> list[float]:
    """Arrival minus sent time for every (path, id) expected; +inf for those that never came."""
    first: dict[tuple[str, str], float] = {}
    for path, message_id, arrived, _size in bench.receiver.arrivals():
        if path in paths:
            first.setdefault((path, message_id), arrived)
    return [
        first.get((path, message_id), math.inf) - when
        for message_id, when in sent.items()
        for path in paths
    ]


def measure(bench: Bench, key: str, count: int, rate: float, round_number: int) -> LatencyRun:
    contender = Ours("ours", "", "") if key == "ours" else Bare("B", "", "")
    with bench.worker(f"latency-{key}"):
        contender.prepare(bench)
        path = "/ours" if key == "ours" else "/b"
        sent, achieved = paced(contender.send_one, count, rate)
        wait_until(
            lambda: bench.receiver.stats()["by_path"].get(path, 0) >= count,
            timeout=bench.args.timeout,
            what=lambda: f"{count} arrivals on {path}; saw {bench.receiver.stats()['by_path']}",
        )
        latencies = arrival_latencies(bench, sent, {path})
    return LatencyRun(key, round_number, latencies, achieved)


def run(bench: Bench, ours_rate: float | None) -> Section:
    args = bench.args
    if args.latency_rate:
        rate, why = args.latency_rate, "--latency-rate"
    elif ours_rate and not math.isnan(ours_rate):
        rate, why = ours_rate / 3, f"a third of ours' median throughput ({fmt(ours_rate)}/s)"
    else:
        rate, why = DEFAULT_RATE, "a fixed default: throughput was not measured in this run"
    section = Section(
        f"2. Latency: {args.latency_events} events at {fmt(rate)}/s, commit → receiver"
    )
    runs: list[LatencyRun] = []
    for number in range(args.rounds):
        order = ("ours", "B") if number % 2 == 0 else ("B", "ours")
        for key in order:
            runs.append(measure(bench, key, args.latency_events, rate, number + 1))
    section.text(
        f"Pace: {fmt(rate)} events/s ({why}), one event per transaction (ours) or one "
        "apply_async (B). Latency of ours: wall time at the receiver minus wall time right after "
        "COMMIT (an on_commit callback registered before send_event's); of B: minus the time "
        "just before apply_async. Medians over the rounds of each round's percentile."
    )
    section.text()
    rows = []
    summary = {}
    for key in ("ours", "B"):
        mine = [r for r in runs if r.key == key]
        summary[key] = {share: median(r.p(share) for r in mine) for share in (0.5, 0.99, 1.0)}
        rows.append(
            (
                key,
                fmt_ms(summary[key][0.5]),
                fmt_ms(summary[key][0.99]),
                fmt_ms(summary[key][1.0]),
                ", ".join(fmt_ms(r.p(0.99)) for r in mine),
                fmt(median(r.achieved_rate for r in mine)),
            )
        )
    section.table(["sender", "p50", "p99", "max", "p99 per round", "achieved events/s"], rows)
    section.text(
        "Ratios ours/B: "
        + ", ".join(
            f"{name} {fmt_ratio(ratio(summary['ours'][share], summary['B'][share]))}"
            for name, share in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))
        )
    )
    section.text()
    p99 = summary["ours"][0.99]
    section.target("ours p99 < 50 ms", p99 < 0.050, f"p99 = {fmt_ms(p99)}")
    return section
