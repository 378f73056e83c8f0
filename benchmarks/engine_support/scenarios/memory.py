"""Scenario 5, worker memory: peak RSS after growing numbers of deliveries, one worker lifetime.

VmHWM (the kernel's high-water mark of resident memory) of the worker's main
process and of each pool process, read from /proc/<pid>/status when the
cumulative count of Attempt rows reaches each checkpoint. A leak shows as a
peak that keeps growing with N; a flat line is what we want.
"""

from __future__ import annotations

from benchmarks.engine_support.bench import Bench
from benchmarks.engine_support.contenders import Ours
from benchmarks.engine_support.processes import wait_until
from benchmarks.engine_support.report import Section, fmt

FLAT_MIB = 2.0  # growth from the first to the last checkpoint that still counts as flat
FLAT_SHARE = 0.05


def run(bench: Bench) -> Section:
    from webhooks_app.models import Attempt

    checkpoints = bench.args.memory_checkpoints
    section = Section(
        "5. Worker memory: peak RSS after "
        + ", ".join(f"{n:,}" for n in checkpoints)
        + " deliveries"
    )
    readings: list[tuple[str, dict[str, dict[str, int]]]] = []
    with bench.worker("memory") as worker:
        ours = Ours("ours", "", "")
        ours.prepare(bench)
        readings.append(("after start", worker.memory()))
        produced = 0
        for checkpoint in checkpoints:
            ours.produce(bench, checkpoint - produced, bench.args.group, first=produced)
            produced = checkpoint
            wait_until(
                lambda checkpoint=checkpoint: Attempt.objects.count() >= checkpoint,
                timeout=bench.args.timeout,
                what=lambda checkpoint=checkpoint: (
                    f"{checkpoint} attempts; saw {Attempt.objects.count()}"
                ),
                interval=0.05,
            )
            readings.append((f"after {checkpoint:,}", worker.memory()))
    processes = list(readings[-1][1])
    section.text(
        "VmHWM (peak RSS) in MiB per worker process, cumulative deliveries in one worker "
        "lifetime; VmRSS (current) in parentheses. Growth: last checkpoint minus first."
    )
    section.text()
    rows = []
    flat = True
    for name in processes:
        peaks = [reading.get(name, {}).get("VmHWM", 0) / 1024 for _, reading in readings]
        now = [reading.get(name, {}).get("VmRSS", 0) / 1024 for _, reading in readings]
        growth = peaks[-1] - peaks[1]
        flat = flat and growth <= max(FLAT_MIB, FLAT_SHARE * peaks[1])
        rows.append(
            (
                name,
                *(f"{fmt(p)} ({fmt(r)})" for p, r in zip(peaks, now, strict=True)),
                f"{growth:+.1f} MiB ({growth / peaks[1]:+.1%})" if peaks[1] else "n/a",
            )
        )
    section.table(["process", *(label for label, _ in readings), "growth"], rows)
    section.target(
        f"no growth with N (≤ {FLAT_MIB:.0f} MiB or {FLAT_SHARE:.0%} per process, "
        f"{checkpoints[0]:,} → {checkpoints[-1]:,})",
        flat,
        "flat" if flat else "grows",
    )
    return section
