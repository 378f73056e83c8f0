"""Threads or asyncio for the engine's concurrent sends, one receiver; a markdown report.

    python benchmarks/senders.py [--quick] [--rounds 5] [--requests 10000]
                                 [--concurrency 8,32] [--contenders a,b,...] [--profile]

Each contender sends signed ~1 KiB Standard Webhooks POSTs over keep-alive
connections, ``--concurrency`` of them in flight, to the benchmark's asyncio
receiver (``benchmarks/engine_support/receiver.py``, its own process) on
127.0.0.1:

1. ``threads-transport`` (ours): a ThreadPoolExecutor calling
   ``webhooks_app.transport.post`` with the arguments the engine gives it
   (SSRF-guarded urllib3 pool, one overall deadline per request);
2. ``threads-requests``: the same threads over one ``requests.Session``;
3. ``asyncio-aiohttp``: ``aiohttp.ClientSession``, ``TCPConnector(limit=concurrency)``;
4. ``asyncio-streams``: a minimal hand-written HTTP/1.1 client on asyncio streams
   (benchmark-only, no guard, no deadline): the floor of what asyncio costs;
5. ``asyncio-streams-guarded``: that client plus a connect-time SSRF guard and a
   per-request deadline: the least an asyncio rewrite of our transport would do;
6. ``asyncio-bridged``: client 5 on one event-loop thread, fed by a synchronous
   loop of ``concurrent.futures`` futures (``run_coroutine_threadsafe``): the shape
   asyncio would take in our engine, whose database work stays synchronous;
7. ``asyncio-ours-h11`` (ours, asynchronous): ``webhooks_app.transport.AsyncClient``
   (h11 on asyncio) with the arguments the engine gives ``transport.post``: every
   guarantee of contender 1 (guard, deadline, one write, capped read, pool);
8. ``asyncio-ours-aiohttp``: the same transport on aiohttp (benchmark-only,
   ``benchmarks/senders_support/aiohttp_client.py``), to choose the library.

Every run is a fresh process (``benchmarks/senders_support/run_one.py``) that
warms up, then sends ``--requests`` in a sliding window (requests/s, its own
CPU from getrusage, the receiver's from /proc, the machine's from /proc/stat),
then ``--round-requests`` in rounds of ``concurrency`` (all out, all back: the
engine's round at one endpoint). Contenders alternate round by round (the order
rotates); figures are medians over the rounds, each with its ratio to ours in
the same run. Raw results go to ``benchmarks/results/senders-*.json``;
``--profile`` adds one py-spy'd run of ours per concurrency level (``--gil``,
three times ``--requests``), written there too. ``--quick`` is a CI smoke run
(tiny N, one round, a few seconds). The exit status is 1 when any run failed,
got anything but 200, or the receiver did not count exactly the requests sent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.engine_support.processes import Receiver

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FULL = {"rounds": 5, "requests": 10_000, "warmup": 500, "round_requests": 2_000, "timeout": 300}
QUICK = {"rounds": 1, "requests": 200, "warmup": 40, "round_requests": 64, "timeout": 60}


def parse_args(argv: list[str]) -> argparse.Namespace:
    from benchmarks.senders_support.contenders import CONTENDERS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="contenders: " + ", ".join(CONTENDERS),
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny N, one round (CI smoke)")
    parser.add_argument("--rounds", type=int, help="rounds, contenders alternated (5; quick: 1)")
    parser.add_argument(
        "--requests", type=int, help="requests per measured run (10000; quick: 200)"
    )
    parser.add_argument("--warmup", type=int, help="requests per run before measuring (500)")
    parser.add_argument(
        "--round-requests", type=int, help="requests sent in rounds of CONCURRENCY (2000)"
    )
    parser.add_argument("--concurrency", default="8,32", help="levels, comma-separated (8,32)")
    parser.add_argument(
        "--contenders", default=",".join(CONTENDERS), help="comma-separated subset (all)"
    )
    parser.add_argument("--timeout", type=float, help="longest run of one process, seconds (300)")
    parser.add_argument("--profile", action="store_true", help="py-spy one extra run of ours")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.concurrency = [int(level) for level in args.concurrency.split(",") if level.strip()]
    args.contenders = [name.strip() for name in args.contenders.split(",") if name.strip()]
    unknown = set(args.contenders) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    return args


class RunFailed(RuntimeError):
    """A run's process failed or timed out; the message says what it printed."""


def run_once(
    args: argparse.Namespace,
    receiver: Receiver,
    contender: str,
    concurrency: int,
    log_dir: Path,
    *,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One fresh process: warm up, (attach py-spy,) measure; the result with its problems."""
    from benchmarks.engine_support.processes import clean_environment, stop_process

    receiver.reset()
    rounds = 0 if profile else args.round_requests
    config = {
        "contender": contender,
        "url": receiver.url("/hook"),
        "concurrency": concurrency,
        "requests": args.requests * (3 if profile else 1),
        "warmup": max(args.warmup, 2 * concurrency),
        "round_requests": rounds,
        "receiver_pid": receiver.pid,
    }
    log = log_dir / f"{contender}-c{concurrency}.log"
    with open(log, "a") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.senders_support.run_one", json.dumps(config)],
            cwd=ROOT, env=clean_environment({}), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=stderr, text=True, start_new_session=True,
        )  # fmt: skip
    profiler = None
    try:
        ready, _, _ = select.select([process.stdout], [], [], args.timeout)
        line = process.stdout.readline() if ready else ""
        if line.strip() != "READY":
            stop_process(process, grace=5)
            raise RunFailed(f"no READY from {contender} (got {line!r}): {tail(log)}")
        if profile is not None:
            from benchmarks.engine_support.profiling import Profiler

            # --gil: only the thread holding the GIL, i.e. where the Python time goes.
            profiler = Profiler(process.pid, profile, rate=250, extra=["--gil"])
        try:
            out, _ = process.communicate("GO\n", timeout=args.timeout)
        except subprocess.TimeoutExpired:
            stop_process(process, grace=5)
            raise RunFailed(f"{contender} ran longer than {args.timeout:.0f} s") from None
    finally:
        summary = profiler.stop() if profiler is not None else None
    if process.returncode != 0:
        raise RunFailed(f"{contender} exited with {process.returncode}: {tail(log)}")
    result = json.loads(out.splitlines()[-1])
    result.update(contender=contender, concurrency=concurrency, config=config)
    sent = config["warmup"] + config["requests"] + rounds // concurrency * concurrency
    seen = receiver.stats()["count"]
    result["problems"] = [
        f"{contender} at {concurrency}: {what} statuses {statuses}"
        for what, statuses in (
            ("warm-up", result["warmup_statuses"]),
            ("measured", result["statuses"]),
            ("rounds", result["round_statuses"]),
        )
        if set(statuses) - {"200"}
    ]
    if seen != sent:
        result["problems"].append(f"{contender} at {concurrency}: sent {sent}, receiver saw {seen}")
    if summary is not None:
        result["profile"] = str(summary)
    return result


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def figures(run: dict) -> dict[str, float]:
    """One run's figures: rates and CPU per request."""
    from benchmarks.engine_support.report import median

    requests = run["config"]["requests"]
    others = run["machine_busy"] - run["cpu"] - (run["receiver_cpu"] or 0.0)
    return {
        "rate": requests / run["wall"],
        "sender_ms": run["cpu"] * 1000 / requests,
        "receiver_ms": (run["receiver_cpu"] or 0.0) * 1000 / requests,
        "system_ms": run["cpu_system"] * 1000 / requests,
        "switches": run["switches"] / requests,
        "round_ms": median(run["round_seconds"]) * 1000,
        "others_cores": max(0.0, others) / run["wall"],
    }


COLUMNS = (
    ("rate", "req/s", 0),
    ("sender_ms", "sender CPU ms/req", 3),
    ("receiver_ms", "receiver CPU ms/req", 3),
    ("round_ms", "one round of C, ms", 2),
)


def medians(runs: list[dict]) -> dict[str, float]:
    from benchmarks.engine_support.report import median

    rows = [figures(run) for run in runs]
    return {key: median(row[key] for row in rows) for key in rows[0]} if rows else {}


def versions() -> str:
    found = []
    for name in ("urllib3", "h11", "requests", "aiohttp", "django"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (missing)")
    return ", ".join(found)


def report(args, results, started_load, seconds: float, raw_path: Path) -> str:
    from benchmarks.engine_support.report import Section, fmt, fmt_ratio, ratio, render
    from benchmarks.receiver_speed import git_head
    from benchmarks.senders_support.contenders import BASELINE, CONTENDERS

    command = shlex.join(["python", "benchmarks/senders.py", *sys.argv[1:]])
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    header = [
        "# webhooks_app senders: threads or asyncio",
        "",
        f"Command: `{command}`",
        "",
        f"- When: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}; took {seconds:.0f} s",
        f"- Machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}; load average {started_load} before, {load} after",
        f"- Packages: {versions()}",
        f"- webhooks_app: {git_head()}",
        f"- Per run: a fresh process, {args.warmup} warm-up requests, then {args.requests} "
        f"measured (sliding window of C in flight), then {args.round_requests} in rounds of C; "
        f"rounds: {args.rounds}, the order rotating; raw results: `{raw_path}`",
    ]
    sections = []
    for level in args.concurrency:
        section = Section(f"Concurrency {level}")
        per = {name: medians(results[level][name]) for name in args.contenders}
        base = per.get(BASELINE, {})
        header_row = ["contender"]
        for _, title, _ in COLUMNS:
            header_row += [title, "ratio"]
        header_row += ["req/s per round", "other processes, cores"]
        rows = []
        for name in args.contenders:
            if not per[name]:
                rows.append([CONTENDERS[name].label, *["n/a"] * (2 * len(COLUMNS) + 2)])
                continue
            row = [CONTENDERS[name].label]
            for key, _, digits in COLUMNS:
                row += [
                    fmt(per[name][key], digits),
                    fmt_ratio(ratio(per[name][key], base.get(key, 0))),
                ]
            runs = [figures(run) for run in results[level][name]]
            row.append(" / ".join(fmt(run["rate"], 0) for run in runs))
            row.append(fmt(per[name]["others_cores"], 2))
            rows.append(row)
        section.table(header_row, rows)
        section.text(
            "The sender's CPU, split: system ms/req (the kernel's share: socket calls, "
            "futex waits, scheduling) and context switches per request (getrusage):"
        )
        section.text()
        section.table(
            ["contender", "sender CPU ms/req", "of which system", "context switches/req"],
            [
                [
                    CONTENDERS[name].label,
                    fmt(per[name]["sender_ms"], 3),
                    fmt(per[name]["system_ms"], 3),
                    fmt(per[name]["switches"], 2),
                ]
                for name in args.contenders
                if per[name]
            ],
        )
        section.text(
            f"CPU ms/req: of the sending process alone (every thread) and of the receiver, "
            f"over the measured window. One round of C: {level} requests out, all back "
            "(the engine's round at one endpoint, before it records and claims). Other "
            "processes: the machine's busy CPU less the sender's and the receiver's, in "
            f"cores (of {os.cpu_count()})."
        )
        section.text()
        for name in (
            "asyncio-aiohttp",
            "asyncio-streams-guarded",
            "asyncio-bridged",
            "asyncio-ours-h11",
            "asyncio-ours-aiohttp",
        ):
            if per.get(name) and base:
                saved = base["sender_ms"] - per[name]["sender_ms"]
                shorter = base["round_ms"] - per[name]["round_ms"]
                section.text(
                    f"- {CONTENDERS[name].label} instead of ours: {saved:.3f} ms less sender "
                    f"CPU per request, rounds of {level} {shorter:.2f} ms shorter."
                )
        section.text()
        profiles = [run["profile"] for run in results[level].get("profile", [])]
        if profiles:
            section.text(f"py-spy of one extra run of ours: `{profiles[0]}`")
            section.text()
        sections.append(section)
    problems = [
        problem
        for level in results.values()
        for runs in level.values()
        for run in runs
        for problem in run.get("problems", [])
    ]
    if problems:
        failed = Section("Failed runs")
        failed.error = "\n".join(problems)
        sections.append(failed)
    return render(header, sections)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    started_load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    from benchmarks.engine_support.processes import Receiver
    from benchmarks.senders_support.contenders import BASELINE

    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="webhooks-senders-"))
    results: dict[int, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    receiver = Receiver(log_dir)
    try:
        for round_number in range(args.rounds):
            shift = round_number % len(args.contenders)
            order = args.contenders[shift:] + args.contenders[:shift]
            for level in args.concurrency:
                for name in order:
                    try:
                        run = run_once(args, receiver, name, level, log_dir)
                    except Exception:
                        run = {"problems": [f"{name} at {level}: {traceback.format_exc(limit=-3)}"]}
                    # A failed run's figures are not a contender's: kept apart, reported.
                    results[level]["failed" if run["problems"] else name].append(run)
                    rate = figures(run)["rate"] if "wall" in run else 0.0
                    print(
                        f"[senders] round {round_number + 1} C={level:<3} {name:<24} "
                        f"{rate:8.0f} req/s {'FAILED' if run['problems'] else ''}",
                        file=sys.stderr,
                        flush=True,
                    )
        if args.profile:
            for level in args.concurrency:
                output = results_dir / f"senders-profile-c{level}.pyspy.txt"
                run = run_once(args, receiver, BASELINE, level, log_dir, profile=output)
                results[level]["profile"].append(run)
    finally:
        receiver.stop()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    raw_path = results_dir / f"senders-{stamp}.json"
    raw_path.write_text(
        json.dumps(
            {
                "command": sys.argv,
                "args": {key: str(value) for key, value in vars(args).items()},
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "results": results,
                "medians": {
                    level: {
                        name: medians(runs)
                        for name, runs in by_name.items()
                        if name not in ("failed", "profile")
                    }
                    for level, by_name in results.items()
                },
            },
            indent=1,
        )
    )
    text = report(args, results, started_load, time.monotonic() - started, raw_path)
    print(text)
    if args.out:
        args.out.write_text(text)
    failed = any(
        run["problems"] for level in results.values() for runs in level.values() for run in runs
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
