"""One measured run in a fresh process: ``python -m benchmarks.senders_support.run_one CONFIG``.

``CONFIG`` is JSON: contender, url, concurrency, requests, warmup, round_requests,
receiver_pid.
The process opens the contender's client, sends ``warmup`` requests (threads
started, keep-alive connections opened, imports and caches warm), prints
``READY`` and waits for a line on stdin (so that a profiler can attach), then
sends ``requests`` and prints one JSON line: wall seconds, this process's CPU
seconds and context switches (``getrusage``: every thread), the receiver's CPU seconds (/proc), the
whole machine's busy CPU seconds (/proc/stat), and the count of each status.
Then it sends ``round_requests`` more in rounds of ``concurrency`` (all out, all
back, then the next round: the engine's shape at one endpoint) and adds each
round's wall time. Nothing before ``READY`` is measured.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.senders_support.contenders import Contender, Job

TICK = os.sysconf("SC_CLK_TCK")


def configure_django() -> None:
    """What ``webhooks_app.conf`` reads: WEBHOOKS as the engine benchmark sets it."""
    from django.conf import settings

    settings.configure(WEBHOOKS={"ALLOWED_NETWORKS": ["127.0.0.0/8"], "TIMEOUT": [5, 15]})


def own_usage() -> dict[str, float]:
    """This process's user and system CPU seconds and context switches (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "user": usage.ru_utime,
        "system": usage.ru_stime,
        "switches": usage.ru_nvcsw + usage.ru_nivcsw,
    }


def machine_busy() -> float:
    """CPU seconds all cores spent outside idle and iowait since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


def jobs(tag: str, count: int) -> list[Job]:
    """``count`` distinct ~1 KiB Standard Webhooks bodies (built before the clock starts)."""
    from benchmarks.receiver_support.traffic import body

    return [(f"msg_{tag}_{n}", body(n)) for n in range(count)]


def main(config: dict) -> dict:
    from benchmarks.engine_support import netguard, procs
    from benchmarks.senders_support.contenders import CONTENDERS

    netguard.install()
    configure_django()
    contender = CONTENDERS[config["contender"]]()
    contender.open(config["url"], config["concurrency"])
    try:
        warm = contender.send_all(jobs("warm", config["warmup"]))
        batch = jobs("run", config["requests"])
        print("READY", flush=True)
        sys.stdin.readline()
        receiver = procs.read_stat(config["receiver_pid"])
        busy, usage, wall = machine_busy(), own_usage(), time.perf_counter()
        statuses = contender.send_all(batch)
        wall = time.perf_counter() - wall
        usage = {key: value - usage[key] for key, value in own_usage().items()}
        busy = machine_busy() - busy
        after = procs.read_stat(config["receiver_pid"])
        rounds = round_times(contender, jobs("round", config["round_requests"]), config)
    finally:
        contender.close()
    return {
        "wall": wall,
        "cpu": usage["user"] + usage["system"],
        "cpu_system": usage["system"],
        "switches": usage["switches"],
        "receiver_cpu": after.own - receiver.own if receiver and after else None,
        "machine_busy": busy,
        "statuses": dict(statuses),
        "warmup_statuses": dict(warm),
        "round_seconds": [seconds for seconds, _ in rounds],
        "round_statuses": dict(sum((counts for _, counts in rounds), Counter())),
    }


def round_times(
    contender: Contender, batch: list[Job], config: dict
) -> list[tuple[float, Counter[str]]]:
    """The engine's round at one endpoint: ``concurrency`` requests out, wait for them all.

    Each round's wall time, and its statuses. (The engine then records them and claims
    the next ones; the window batch above overlaps rounds, this shape does not.)
    """
    size = config["concurrency"]
    times = []
    for start in range(0, len(batch) - size + 1, size):
        began = time.perf_counter()
        statuses = contender.send_all(batch[start : start + size])
        times.append((time.perf_counter() - began, statuses))
    return times


if __name__ == "__main__":
    result = main(json.loads(sys.argv[1]))
    print(json.dumps(result), flush=True)
