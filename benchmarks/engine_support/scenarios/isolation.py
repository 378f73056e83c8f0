"""Scenario 3, isolation: 9 healthy endpoints, with and without a 10th that never answers.

Every event goes to every endpoint (``event_types=[]``). Each sub-run has two
phases, each with a fresh worker so that one phase's backlog cannot leak into
the other:

- **burst**: N events in transactions of 10 (100 deliveries each), as fast as
  the producer goes; healthy deliveries/s = healthy arrivals / (last healthy
  arrival - first transaction's start);
- **paced**: M events, one per transaction, at a third of ours' throughput
  (counted in deliveries, the hanging endpoint's included); healthy latency
  commit -> receiver.

A phase waits for every healthy delivery, at most ``--isolation-window``
seconds after its last event; what has not arrived by then counts as never
(the rate is then what arrived over the window, and is marked incomplete).
Then it waits a bounded time for the hanging endpoint's attempts to be
recorded as timeouts and tears the worker down.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from benchmarks.engine_support.bench import Bench
from benchmarks.engine_support.contenders import Ours
from benchmarks.engine_support.processes import Timeout, wait_until
from benchmarks.engine_support.report import (
    Section,
    fmt,
    fmt_ms,
    fmt_ratio,
    median,
    percentile,
    ratio,
)
from benchmarks.engine_support.scenarios.latency import arrival_latencies, paced

HEALTHY = tuple(f"/h{number}" for number in range(9))
HANGING = "/hang"
TIMEOUT = [1, 2]
RETRY_SCHEDULE: list[float] = []  # one attempt per delivery: no retry of the hanging endpoint


@dataclass
class Phase:
    hanging: bool
    round: int
    rate: float = math.nan  # healthy deliveries/s (burst)
    complete: bool = True
    arrived: int = 0
    expected: int = 0
    latencies: tuple[float, ...] = ()  # paced
    hang_requests: int = 0
    hang_attempts: int = 0

    def p(self, share: float) -> float:
        return percentile(self.latencies, share)


def _healthy_arrived(bench: Bench) -> int:
    by_path = bench.receiver.stats()["by_path"]
    return sum(by_path.get(path, 0) for path in HEALTHY)


def _await_healthy(bench: Bench, expected: int, window: float) -> bool:
    """True when all healthy deliveries arrived within ``window`` seconds."""
    try:
        wait_until(lambda: _healthy_arrived(bench) >= expected, timeout=window, what="")
    except Timeout:
        return False
    return True


def _tear_down_hanging(bench: Bench, phase: Phase, ours: Ours) -> None:
    """Give the hanging endpoint's requests their timeouts, boundedly, and count its attempts."""
    from webhooks_app.models import Attempt

    hang = ours.endpoints[-1]
    requests = bench.receiver.stats()["hanging_total"]
    try:
        wait_until(
            lambda: Attempt.objects.filter(delivery__endpoint=hang).count() >= requests,
            timeout=sum(TIMEOUT),
            what="",
            interval=0.1,
        )
    except Timeout:
        pass
    phase.hang_requests = bench.receiver.stats()["hanging_total"]
    phase.hang_attempts = Attempt.objects.filter(
        delivery__endpoint=hang, status_code__isnull=True
    ).count()


def burst(bench: Bench, hanging: bool, round_number: int) -> Phase:
    events, window = bench.args.isolation_events, bench.args.isolation_window
    phase = Phase(hanging, round_number, expected=events * len(HEALTHY))
    paths = HEALTHY + ((HANGING,) if hanging else ())
    with bench.worker(f"isolation-burst-{'hang' if hanging else 'healthy'}", _settings(bench)):
        ours = Ours("ours", "", "")
        ours.prepare(bench, paths=paths)
        started = time.time()
        ours.produce(bench, events, max(1, bench.args.group // len(paths)))
        phase.complete = _await_healthy(bench, phase.expected, window)
        stats = bench.receiver.stats()
        phase.arrived = sum(stats["by_path"].get(path, 0) for path in HEALTHY)
        ended = stats["last_arrival"] if phase.complete else time.time()
        phase.rate = phase.arrived / (ended - started)
        if hanging:
            _tear_down_hanging(bench, phase, ours)
    return phase


def paced_phase(bench: Bench, hanging: bool, round_number: int, event_rate: float) -> Phase:
    events, window = bench.args.isolation_paced_events, bench.args.isolation_window
    phase = Phase(hanging, round_number, expected=events * len(HEALTHY))
    paths = HEALTHY + ((HANGING,) if hanging else ())
    with bench.worker(f"isolation-paced-{'hang' if hanging else 'healthy'}", _settings(bench)):
        ours = Ours("ours", "", "")
        ours.prepare(bench, paths=paths)
        sent, _ = paced(ours.send_one, events, event_rate)
        phase.complete = _await_healthy(bench, phase.expected, window)
        phase.arrived = _healthy_arrived(bench)
        phase.latencies = tuple(arrival_latencies(bench, sent, set(HEALTHY)))
        if hanging:
            _tear_down_hanging(bench, phase, ours)
    return phase


def _settings(bench: Bench) -> dict:
    return bench.webhooks(TIMEOUT=TIMEOUT, RETRY_SCHEDULE=RETRY_SCHEDULE)


def run(bench: Bench, ours_rate: float | None) -> Section:
    args = bench.args
    if args.isolation_rate:
        event_rate, why = args.isolation_rate, "--isolation-rate"
    elif ours_rate and not math.isnan(ours_rate):
        event_rate = ours_rate / 3 / (len(HEALTHY) + 1)
        why = f"a third of ours' throughput ({fmt(ours_rate)} deliveries/s) over 10 endpoints"
    else:
        event_rate, why = 5.0, "a fixed default: throughput was not measured in this run"
    section = Section("3. Isolation: 9 healthy endpoints, with and without a hanging one")
    bursts: list[Phase] = []
    paces: list[Phase] = []
    for number in range(args.rounds):
        order = (False, True) if number % 2 == 0 else (True, False)
        for hanging in order:
            bursts.append(burst(bench, hanging, number + 1))
        for hanging in order:
            paces.append(paced_phase(bench, hanging, number + 1, event_rate))

    window = args.isolation_window
    section.text(
        f"WEBHOOKS TIMEOUT={TIMEOUT}, RETRY_SCHEDULE={RETRY_SCHEDULE} (one attempt each: the "
        f"hanging endpoint is not retried). Burst: {args.isolation_events} events x 10 endpoints "
        f"in transactions of {max(1, args.group // 10)} events. Paced: "
        f"{args.isolation_paced_events} events at {fmt(event_rate, 2)} events/s ({why}). "
        f"Window: {window:.0f} s after the last event; healthy deliveries not arrived by then "
        "count as never. The hanging path reads each request and never answers."
    )
    section.text()
    rows = []
    figures = {}
    for hanging in (False, True):
        mine_b = [p for p in bursts if p.hanging is hanging]
        mine_p = [p for p in paces if p.hanging is hanging]
        figures[hanging] = (median(p.rate for p in mine_b), median(p.p(0.99) for p in mine_p))
        incomplete = [p for p in mine_b + mine_p if not p.complete]
        rows.append(
            (
                "with hanging" if hanging else "healthy only",
                fmt(figures[hanging][0]),
                ", ".join(fmt(p.rate) for p in mine_b),
                fmt_ms(median(p.p(0.5) for p in mine_p), window),
                fmt_ms(figures[hanging][1], window),
                fmt_ms(median(p.p(1.0) for p in mine_p), window),
                "; ".join(f"{p.arrived}/{p.expected}" for p in incomplete) or "all arrived",
                "; ".join(
                    f"{name} {p.hang_attempts}/{p.hang_requests}"
                    for name, p in [("burst", q) for q in mine_b] + [("paced", q) for q in mine_p]
                )
                if hanging
                else "",
            )
        )
    section.table(
        [
            "endpoints",
            "healthy deliveries/s",
            "per round",
            "healthy p50",
            "healthy p99",
            "healthy max",
            "incomplete (arrived/expected)",
            "hanging: timeouts recorded/requests",
        ],
        rows,
    )
    rate_ratio = ratio(figures[True][0], figures[False][0])
    section.text(f"Healthy rate with hanging / without: {fmt_ratio(rate_ratio)}")
    section.text()
    section.target(
        "healthy rate with hanging ≥ 0.8 x without", rate_ratio >= 0.8, fmt_ratio(rate_ratio)
    )
    section.target(
        "healthy p99 < 1 s with the hanging endpoint",
        figures[True][1] < 1.0,
        f"p99 = {fmt_ms(figures[True][1], window)}",
    )
    return section
