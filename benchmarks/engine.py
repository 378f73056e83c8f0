"""Benchmark the sending engine against baselines in one run; prints a markdown report.

    python benchmarks/engine.py [--quick] [--rounds 3] [--events 2000] [--out FILE]
                                [--setting KEY=VALUE ...] [--scenarios throughput,latency,...]
                                [--engine-rev REV] [--profile]

On one machine, with PostgreSQL and Redis on 127.0.0.1 (started when they are
not running), a fresh Celery worker (``--pool=prefork --concurrency=2``) per
contender run and an asyncio receiver answering 200:

1. throughput: B (a bare Celery task + requests.Session), the peer
   (django-webhook 0.0.15) and ours (webhooks_app), alternated in each round;
2. latency: ours and B at a third of ours' throughput, commit → receiver;
3. isolation: 9 healthy endpoints with and without one that never answers;
4. outbox: send_event's queries and time with 1 and 10,000 endpoints;
5. worker memory: peak RSS after growing numbers of deliveries;
6. history: ours on a database holding ``--history`` old deliveries (events,
   attempts) against an empty one, alternated, each on a fresh copy of a
   template database kept between runs; and the sweep's time on both.

Figures are medians over the rounds, each next to its ratio to the baseline
of the same run, since absolute numbers say more about the machine than about
the engine. ``--quick`` is a CI smoke run (tiny N, one round). ``--engine-rev``
measures webhooks_app/ as committed at REV (a before figure, or a stable commit
while the working tree is mid-change) instead of the working tree;
``--profile`` adds one py-spy'd ours run, written to benchmarks/results/. The
exit status is 1 only when a scenario failed to run; missed targets are
printed, not fatal.
It uses the scratch database ``webhooks_bench`` (dropped and created again),
``webhooks_bench_copy`` and the templates ``webhooks_bench_tpl_*`` (history),
and Redis db 14 (flushed), so point it at servers with nothing to lose there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from celery import Celery

    from benchmarks.engine_support.bench import Bench

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCENARIOS = ("throughput", "latency", "isolation", "outbox", "memory", "history")
FULL = {
    "rounds": 3,
    "events": 2000,
    "latency_events": 1000,
    "isolation_events": 300,
    "isolation_paced_events": 100,
    "isolation_window": 30.0,
    "outbox_calls": 30,
    "outbox_many_calls": 10,
    "memory_checkpoints": "5000,10000,20000",
    "history": 1_000_000,
    "history_backlog": 2000,
    "timeout": 300.0,
    "scenario_timeout": 3600.0,
}
QUICK = {
    "rounds": 1,
    "events": 100,
    "latency_events": 50,
    "isolation_events": 20,
    "isolation_paced_events": 10,
    "isolation_window": 3.0,
    "outbox_calls": 5,
    "outbox_many_calls": 1,
    "memory_checkpoints": "200,400,800",
    "history": 20_000,
    "history_backlog": 100,
    "timeout": 60.0,
    "scenario_timeout": 180.0,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny N and one round (CI smoke)")
    parser.add_argument("--rounds", type=int, help="rounds per scenario (3; --quick: 1)")
    parser.add_argument("--events", type=int, help="throughput deliveries (2000; --quick: 100)")
    parser.add_argument("--group", type=int, default=100, help="deliveries per transaction")
    parser.add_argument("--latency-events", type=int, help="(1000; --quick: 50)")
    parser.add_argument("--latency-rate", type=float, help="events/s (default: ours' rate / 3)")
    parser.add_argument("--isolation-events", type=int, help="burst events (300; --quick: 20)")
    parser.add_argument("--isolation-paced-events", type=int, help="(100; --quick: 10)")
    parser.add_argument("--isolation-rate", type=float, help="paced events/s (ours / 3 / 10)")
    parser.add_argument("--isolation-window", type=float, help="seconds (30; --quick: 3)")
    parser.add_argument("--outbox-endpoints", type=int, default=10_000)
    parser.add_argument("--outbox-calls", type=int, help="calls with 1 endpoint (30; quick: 5)")
    parser.add_argument("--outbox-many-calls", type=int, help="calls with many (10; quick: 1)")
    parser.add_argument("--memory-checkpoints", help="cumulative deliveries, comma-separated")
    parser.add_argument("--history", type=int, help="old deliveries (1,000,000; quick: 20,000)")
    parser.add_argument(
        "--history-backlog", type=int, help="events the timed sweep fans out (2000; quick: 100)"
    )
    parser.add_argument(
        "--history-rebuild", action="store_true", help="load the history templates again"
    )
    parser.add_argument(
        "--history-prune-days",
        type=float,
        default=30,
        help="webhooks_prune --days D on the history, alone and while sending (0: not run)",
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a WEBHOOKS key for every run (VALUE is JSON, else a string), e.g. BATCH_SIZE=100",
    )
    parser.add_argument(
        "--db-reuse-max",
        type=int,
        default=1000,
        help="CELERY_DB_REUSE_MAX for every worker (0: Celery's default, reconnect every task)",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="prefork pool processes")
    parser.add_argument("--timeout", type=float, help="longest wait for one step, seconds")
    parser.add_argument(
        "--scenario-timeout", type=float, help="longest run of one scenario (3600; quick: 180)"
    )
    parser.add_argument("--stop-grace", type=float, default=15, help="SIGTERM → SIGKILL, seconds")
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/webhooks_bench"
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument(
        "--engine-rev",
        help="benchmark webhooks_app/ as of this git revision (exported to a temp dir) "
        "instead of the working tree, e.g. HEAD while the working tree is mid-change",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy an extra ours run")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.memory_checkpoints = [int(n) for n in str(args.memory_checkpoints).split(",")]
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    args.overrides = {}
    for item in args.setting:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            parser.error(f"--setting wants KEY=VALUE, not {item!r}")
        try:
            args.overrides[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            args.overrides[key.strip()] = raw
    return args


def export_engine(rev: str) -> str:
    """``git archive`` webhooks_app/ at ``rev`` into a temp dir that comes first on sys.path.

    The worker gets it first on its PYTHONPATH and runs from that directory, so
    neither side imports the working tree's webhooks_app. Returns the commit,
    resolved now: the branch may move while the benchmark runs.
    """
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = Path(tempfile.mkdtemp(prefix="webhooks-engine-"))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "webhooks_app"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    sys.path.insert(0, str(target))
    os.environ["BENCH_ENGINE_PATH"] = str(target)
    return commit


def setup_django(args: argparse.Namespace) -> Celery:
    """Services up, a fresh scratch database, Django and the Celery app; returns the app."""
    from benchmarks.engine_support import services

    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.engine_support.settings"
    os.environ["BENCH_DATABASE_URL"] = args.database_url
    os.environ["BENCH_BROKER_URL"] = args.broker_url
    os.environ["BENCH_DB_REUSE_MAX"] = str(args.db_reuse_max)
    services.loopback_only(args.database_url, args.broker_url)
    services.ensure_postgres(args.database_url)
    services.ensure_redis(args.broker_url)
    services.recreate_database(args.database_url)
    services.flush_redis(args.broker_url)

    # Before django.setup(): django-webhook binds its task to the current Celery app.
    import django

    from benchmarks.engine_support.celery_app import app

    engine_path = os.environ.get("BENCH_ENGINE_PATH")
    if engine_path:  # Celery's Django fixup has just put the cwd (the repository) first
        sys.path.insert(0, engine_path)
    django.setup()
    from django.core.management import call_command
    from django_webhook.models import populate_topics_from_settings

    call_command("migrate", verbosity=0)
    populate_topics_from_settings()  # its ready() ran before the tables existed
    return app


def versions() -> str:
    names = ("django", "celery", "kombu", "requests", "psycopg", "redis", "django-webhook")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (missing)")
    return ", ".join(found)


def git_state(rev: str | None, commit: str | None) -> str:
    """Which webhooks_app was measured: a commit's export, or the working tree."""

    def git(*command: str) -> str:
        result = subprocess.run(
            ["git", *command], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    import webhooks_app

    where = Path(webhooks_app.__file__).parent
    if commit:
        subject = git("log", "-1", "--format=%s", commit)[:70]
        return f"webhooks_app/ of `{rev}` = {commit[:7]} ({subject}), exported to {where}"
    changed = git("status", "--porcelain", "--", "webhooks_app").splitlines()
    dirty = f", plus {len(changed)} uncommitted change(s) under webhooks_app/" if changed else ""
    head = f"{git('rev-parse', '--short', 'HEAD')} ({git('log', '-1', '--format=%s')[:70]})"
    return f"the working tree ({where}) at {head}{dirty}"


def header(
    args: argparse.Namespace, bench: Bench, worker_command: list[str], seconds: float
) -> list[str]:
    from benchmarks.engine_support import services

    command = shlex.join(["python", "benchmarks/engine.py", *sys.argv[1:]])
    redis = services.redis_info(args.broker_url)
    return [
        "# webhooks_app sending engine: benchmark",
        "",
        f"Command: `{command}`",
        "",
        f"- When: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}; took {seconds:.0f} s",
        f"- Machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}",
        f"- Packages: {versions()}",
        f"- Services: PostgreSQL {bench.facts.get('postgres', '?')} (scratch database "
        f"`{args.database_url.rsplit('/', 1)[-1]}`), Redis {redis.get('redis_version')} "
        f"(`{args.broker_url}`, flushed between runs)",
        f"- Engine measured: {git_state(args.engine_rev, bench.facts.get('engine_commit'))}",
        f"- Worker (fresh per contender run): `{shlex.join(worker_command)}`",
        f"- CELERY_DB_REUSE_MAX = {args.db_reuse_max or 'None (close around every task)'} "
        "for every contender",
        f"- WEBHOOKS for every run: `{json.dumps(bench.webhooks())}` (scenarios add their own "
        "keys, shown in their sections)",
        f"- Rounds: {args.rounds}; logs: {bench.log_dir}",
    ]


class ScenarioTimeout(Exception):
    """A scenario ran past --scenario-timeout (a safety net: every wait is bounded too)."""


@contextmanager
def time_limit(seconds: float, name: str) -> Iterator[None]:
    """Raise ScenarioTimeout in the main thread after ``seconds``; the scenario's own
    ``finally`` blocks still stop its worker."""

    def expire(signum: int, frame: object) -> None:
        raise ScenarioTimeout(f"{name} ran longer than {seconds:.0f} s (--scenario-timeout)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    commit = export_engine(args.engine_rev) if args.engine_rev else None
    app = setup_django(args)

    from django.db import connection

    from benchmarks.engine_support import services
    from benchmarks.engine_support.bench import Bench
    from benchmarks.engine_support.processes import Receiver, Worker
    from benchmarks.engine_support.report import Section, render
    from benchmarks.engine_support.scenarios import (
        history,
        isolation,
        latency,
        memory,
        outbox,
        throughput,
    )

    log_dir = Path(tempfile.mkdtemp(prefix="webhooks-bench-"))
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    receiver = Receiver(log_dir)
    bench = Bench(args, app, receiver, log_dir, results_dir, overrides=args.overrides)
    bench.facts["postgres"] = services.postgres_version(connection)
    if commit:
        bench.facts["engine_commit"] = commit
    bench.redis_pid = int(services.redis_info(args.broker_url)["process_id"])

    sections: list[Section] = []
    ours_rate: float | None = None
    runners = {
        "throughput": lambda: throughput.run(bench),
        "latency": lambda: latency.run(bench, ours_rate),
        "isolation": lambda: isolation.run(bench, ours_rate),
        "outbox": lambda: outbox.run(bench),
        "memory": lambda: memory.run(bench),
        "history": lambda: history.run(bench),
    }
    try:
        for name in args.scenarios:
            scenario_started = time.monotonic()
            print(f"[engine.py] {name} ...", file=sys.stderr, flush=True)
            try:
                with time_limit(args.scenario_timeout, name):
                    result = runners[name]()
            except Exception:
                section = Section(f"{name}: failed")
                section.error = traceback.format_exc(limit=-12).rstrip()
            else:
                if isinstance(result, tuple):
                    section, ours_rate = result
                else:
                    section = result
            took = time.monotonic() - scenario_started
            section.text(f"_({name} took {took:.0f} s)_")
            section.text()
            sections.append(section)
            print(f"[engine.py] {name} done in {took:.0f} s", file=sys.stderr, flush=True)
    finally:
        receiver.stop()

    worker = Worker(app, {}, log_dir / "unused.log", args.concurrency)
    worker.hostname = "bench-<random>@127.0.0.1"
    worker_command = ["python", *worker.command()[1:]]
    text = render(header(args, bench, worker_command, time.monotonic() - started), sections)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 1 if any(section.error for section in sections) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
