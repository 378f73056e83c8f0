"""Benchmark our receiver against a hand-written Django view, under gunicorn; markdown report.

    python benchmarks/receiver_speed.py [--quick] [--rounds 3] [--requests 3000]
                                        [--connections 4] [--before REV ...]
                                        [--profile] [--out FILE]

On one machine: PostgreSQL on 127.0.0.1 (started when it is not running, the
scratch database ``webhooks_inbound_bench`` dropped and created again),
gunicorn with 2 sync workers serving ``benchmarks/receiver_support`` (two
routes), and a load generator process (threads, one ``http.client``
connection each) sending pre-signed Standard Webhooks bodies of ~1 KiB:

- ``hand``: a hand-written view: the HMAC check, ``json.loads``, and in
  ``transaction.atomic()`` a ``get_or_create`` on a unique event id and the
  handler's row when the event is new;
- ``ours``: a ``WebhookReceiverView`` subclass whose ``handle`` writes that row;
- ``ours@REV`` (``--before REV``, repeatable): the same subclass served by a
  second gunicorn whose ``webhooks_app`` is REV's (``git archive`` into a
  temporary directory the workers run from), to compare revisions in one run.

Traffic: unique events, and 50 % copies of events sent a little earlier.
Contenders alternate round by round (tables truncated before each run);
figures are medians over the rounds, with the ratio to hand of this run (and
ours / ours@REV), CPU per request of each process role read from /proc, and
the SQL each contender issues per request (counted through Django's test
client in a subprocess of the contender's revision). ``--profile`` adds one
py-spy'd run of hand and of ours (gunicorn's workers), written to
benchmarks/results/.
``--quick`` is a CI smoke run (tiny N, one round). The exit status is 1 when a
run answered anything but 200 or its rows are wrong; a missed target is
printed, not fatal.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FULL = {"rounds": 3, "requests": 3000, "warmup": 200}
QUICK = {"rounds": 1, "requests": 60, "warmup": 10}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny N and one round (CI smoke)")
    parser.add_argument("--rounds", type=int, help="rounds (3; --quick: 1)")
    parser.add_argument("--requests", type=int, help="requests per run (3000; --quick: 60)")
    parser.add_argument("--warmup", type=int, help="requests per route before measuring")
    parser.add_argument("--connections", type=int, default=4, help="load generator's connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/webhooks_inbound_bench"
    )
    parser.add_argument(
        "--before",
        action="append",
        default=[],
        metavar="REV",
        help="also serve REV's webhooks_app as contender ours@REV (repeatable)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy one more run of each")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def setup_django(args: argparse.Namespace) -> None:
    from benchmarks.engine_support import services

    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.receiver_support.settings"
    os.environ["BENCH_DATABASE_URL"] = args.database_url
    services.loopback_only(args.database_url)
    services.ensure_postgres(args.database_url)
    services.recreate_database(args.database_url)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)


@dataclass
class Contender:
    """A route under load: its name, the server and path serving it, and where its code is.

    ``label`` is what its handler writes in ``HandledRow.contender``; ``cwd`` the
    directory whose ``webhooks_app`` it runs.
    """

    name: str
    path: str
    label: str
    cwd: Path = ROOT
    server: Any = None


def export_revision(rev: str) -> tuple[str, Path]:
    """``git archive`` webhooks_app/ at ``rev`` into a temporary directory; (commit, dir).

    The commit is resolved now: the branch may move while the benchmark runs.
    """
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    target = Path(tempfile.mkdtemp(prefix="webhooks-receiver-rev-"))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "webhooks_app"],
        cwd=ROOT, capture_output=True, check=True,
    )  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return commit, target


def contenders(args: argparse.Namespace) -> list[Contender]:
    found = [Contender("hand", "/hand/", "hand"), Contender("ours", "/ours/", "ours")]
    for rev in args.before:
        commit, directory = export_revision(rev)
        found.append(Contender(f"ours@{commit[:7]}", "/ours/", "ours", cwd=directory))
    return found


def statements(contender: Contender, database_url: str) -> dict[str, dict]:
    """The contender's SQL in each traffic mix, counted in its own revision."""
    from benchmarks.engine_support.processes import clean_environment

    route = "hand" if contender.label == "hand" else "ours"
    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks.receiver_support.statements"],
        cwd=contender.cwd, env=clean_environment({"BENCH_DATABASE_URL": database_url}),
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(finished.stdout)[route]


def backend_pids() -> list[int]:
    """PostgreSQL backends connected to the scratch database (the cluster may be shared)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [pid for (pid,) in cursor.fetchall()]


def run_load(port: int, path: str, requests: list, connections: int, log_dir: Path) -> dict:
    requests_file = log_dir / "requests.pickle"
    requests_file.write_bytes(pickle.dumps(requests))
    from benchmarks.engine_support.processes import clean_environment

    finished = subprocess.run(
        [
            sys.executable, "-m", "benchmarks.receiver_support.load",
            str(port), path, str(requests_file), str(connections),
        ],
        cwd=ROOT, env=clean_environment({}), capture_output=True, text=True, check=True,
        timeout=600,
    )  # fmt: skip
    return json.loads(finished.stdout)


def check_rows(contender: Contender, events: int) -> str:
    """'' when the run left exactly one handled row (and one dedup row) per new event."""
    from benchmarks.receiver_support.models import HandledRow, HandWrittenEvent
    from webhooks_app.models import InboundEvent

    handled = HandledRow.objects.filter(contender=contender.label).count()
    dedup = (HandWrittenEvent if contender.label == "hand" else InboundEvent).objects.count()
    if handled != events or dedup != events:
        return f"{contender.name}: {events} new events, {handled} handled rows, {dedup} dedup rows"
    return ""


def measure(args, contender: Contender, share: float, tag: str, log_dir: Path) -> dict:
    """One contender run: fresh tables, the load, CPU per role, rows checked."""
    from benchmarks.engine_support import procs
    from benchmarks.receiver_support import traffic
    from benchmarks.receiver_support.models import truncate
    from benchmarks.receiver_support.views import SECRET

    truncate()
    server = contender.server
    requests, events = traffic.requests(SECRET, tag, args.requests, share)
    meter = procs.CpuMeter(
        {
            "gunicorn workers": procs.descendants_cpu(server.pid),
            "postgres": procs.pids_cpu(backend_pids),
        }
    )
    meter.start()
    load = run_load(server.port, contender.path, requests, args.connections, log_dir)
    cpu = meter.delta()
    cpu["load generator"] = load["cpu"]
    problems = [check_rows(contender, events)]
    if set(load["statuses"]) != {"200"}:
        problems.append(f"{contender.name}: statuses {load['statuses']} {load['errors']}")
    return {
        "rate": args.requests / load["elapsed"],
        "cpu": {role: seconds / args.requests for role, seconds in cpu.items()},
        "problems": [problem for problem in problems if problem],
    }


def versions() -> str:
    found = []
    for name in ("django", "gunicorn", "psycopg"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (missing)")
    return ", ".join(found)


def git_head() -> str:
    def git(*command: str) -> str:
        return subprocess.run(
            ["git", *command], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    changed = git("status", "--porcelain", "--", "webhooks_app").splitlines()
    dirty = f", plus {len(changed)} uncommitted change(s) under webhooks_app/" if changed else ""
    return f"{git('rev-parse', '--short', 'HEAD')} ({git('log', '-1', '--format=%s')[:70]}){dirty}"


def subject(commit: str) -> str:
    return subprocess.run(
        ["git", "log", "-1", "--format=%h (%s)", commit],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout.strip()[:90]  # fmt: skip


def traffic_section(traffic_name: str, runs_of: dict, queries: dict, field: list) -> Any:
    """One traffic's table: each contender's medians, ratios and CPU split."""
    from benchmarks.engine_support.report import Section, fmt, fmt_ratio, median, ratio

    section = Section(f"Receiving: {traffic_name}")
    hand = median(run["rate"] for run in runs_of["hand"])
    rows, totals = [], {}
    roles: list[str] = []
    for contender in field:
        runs = runs_of[contender.name]
        rate = median(run["rate"] for run in runs)
        roles = sorted({role for run in runs for role in run["cpu"]})
        cpu = {role: median(run["cpu"][role] for run in runs) for role in roles}
        totals[contender.name] = (rate, sum(cpu.values()))
        rows.append(
            [
                contender.name,
                fmt(rate, 0),
                fmt_ratio(ratio(rate, hand)),
                " / ".join(fmt(run["rate"], 0) for run in runs),
                *(fmt(cpu[role] * 1000, 2) for role in roles),
                fmt(sum(cpu.values()) * 1000, 2),
                f"{queries[contender.name][traffic_name]['per request']:g}",
            ]
        )
    section.table(
        [
            "contender",
            "req/s (median)",
            "ratio to hand",
            "req/s per round",
            *(f"CPU ms/req: {role}" for role in roles),
            "CPU ms/req: total",
            "SQL statements/req",
        ],
        rows,
    )
    ours_rate, ours_cpu = totals["ours"]
    for name, (rate, cpu) in totals.items():
        if name.startswith("ours@"):
            section.text(
                f"- ours / {name}: {fmt_ratio(ratio(ours_rate, rate))} req/s, "
                f"{fmt_ratio(ratio(ours_cpu, cpu))} CPU per request"
            )
    section.text()
    met = None if not hand else ours_rate / hand >= 1.0
    section.target("ours >= 1.0x the hand-written view", met, fmt_ratio(ratio(ours_rate, hand)))
    return section


def profile_runs(args, field: list[Contender], log_dir: Path) -> list[Path]:
    """One more run of each contender with 50 % duplicates, gunicorn's workers py-spied;
    returns the summaries (the collapsed stacks are next to them, in benchmarks/results/)."""
    from benchmarks.engine_support.profiling import Profiler

    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    summaries = []
    for contender in field:
        output = results_dir / f"receiver-{contender.name}.pyspy.txt"
        profiler = Profiler(contender.server.pid, output)
        try:
            measure(args, contender, 0.5, f"profile_{contender.name}", log_dir)
        finally:
            summaries.append(profiler.stop())
    return summaries


def report(args, results, queries, field, seconds: float, profiles: list[Path]) -> str:
    from django.db import connection

    from benchmarks.engine_support import services
    from benchmarks.engine_support.report import Section, render
    from benchmarks.receiver_support.traffic import BODY_BYTES, MIXES

    command = shlex.join(["python", "benchmarks/receiver_speed.py", *sys.argv[1:]])
    server = field[0].server
    header = [
        "# webhooks_app receiver: benchmark",
        "",
        f"Command: `{command}`",
        "",
        f"- When: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}; took {seconds:.0f} s",
        f"- Machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}",
        f"- Packages: {versions()}",
        f"- PostgreSQL {services.postgres_version(connection)}, scratch database "
        f"`{args.database_url.rsplit('/', 1)[-1]}`, `CONN_MAX_AGE = 600`",
        f"- Server: `{shlex.join(['gunicorn', *server.command()[3:]])}` (the sync worker "
        "closes the connection after each answer)",
        f"- Load: {args.requests} requests per run, {args.connections} connections, "
        f"bodies of ~{BODY_BYTES} bytes signed beforehand; {args.warmup} warm-up requests "
        "per route; rounds: "
        f"{args.rounds}, contenders alternated",
        f"- webhooks_app: {git_head()}",
        *(
            f"- {c.name}: {subject(c.name.split('@', 1)[1])}, its own gunicorn"
            for c in field
            if "@" in c.name
        ),
    ]
    sections = [traffic_section(name, results[name], queries, field) for name in MIXES]
    section = Section("Receiving: SQL per request")
    section.table(
        ["contender", "unique: new event", "50 %: new event", "50 %: copy of a processed event"],
        [
            [
                c.name,
                *(
                    " ".join(queries[c.name][mix].get(kind, ["n/a"]))
                    for mix, kind in [
                        ("unique", "new event"),
                        ("50 % duplicates", "new event"),
                        ("50 % duplicates", "copy"),
                    ]
                ),
            ]
            for c in field
        ],
    )
    section.text(
        "Every round trip Django logs (`BEGIN`, savepoints and `COMMIT` included), by its "
        "first word, in the second half of a short sequence of each traffic sent through "
        "Django's test client; the handler's row is one of the `INSERT`s."
    )
    section.text()
    for profile in profiles:
        section.text(f"Profile of one more run (py-spy, gunicorn's workers): `{profile}`")
        section.text()
    sections.append(section)
    problems = [
        p for t in results.values() for runs in t.values() for r in runs for p in r["problems"]
    ]
    if problems:
        failed = Section("Receiving: failed runs")
        failed.error = "\n".join(problems)
        sections.append(failed)
    return render(header, sections)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    setup_django(args)
    from benchmarks.receiver_support import traffic
    from benchmarks.receiver_support.server import Gunicorn
    from benchmarks.receiver_support.views import SECRET

    log_dir = Path(tempfile.mkdtemp(prefix="webhooks-receiver-bench-"))
    field = contenders(args)
    queries = {c.name: statements(c, args.database_url) for c in field}
    env = {"BENCH_DATABASE_URL": args.database_url}
    servers = {}
    for contender in field:  # hand and ours share one server; each revision has its own
        if contender.cwd not in servers:
            log = log_dir / f"gunicorn-{len(servers)}.log"
            servers[contender.cwd] = Gunicorn(env, log, args.workers, cwd=contender.cwd)
        contender.server = servers[contender.cwd]
    results: dict = defaultdict(lambda: defaultdict(list))
    profiles: list[Path] = []
    try:
        for server in servers.values():
            server.start()
        for contender in field:  # imports, connections, caches of the workers
            warm, _ = traffic.requests(SECRET, f"warm_{contender.name}", args.warmup, 0.5)
            run_load(contender.server.port, contender.path, warm, args.connections, log_dir)
        for round_number in range(args.rounds):
            order = field if round_number % 2 == 0 else field[::-1]
            for traffic_name, share in traffic.MIXES.items():
                for contender in order:
                    tag = f"r{round_number}_{contender.name}_{int(share * 100)}"
                    result = measure(args, contender, share, tag, log_dir)
                    results[traffic_name][contender.name].append(result)
                    print(
                        f"[receiver_speed] round {round_number + 1} {traffic_name:>16} "
                        f"{contender.name}: {result['rate']:.0f} req/s",
                        file=sys.stderr,
                        flush=True,
                    )
        if args.profile:
            profiles = profile_runs(args, field[:2], log_dir)
    finally:
        for server in servers.values():
            server.stop()
    text = report(args, results, queries, field, time.monotonic() - started, profiles)
    print(text)
    if args.out:
        args.out.write_text(text)
    failed = any(r["problems"] for t in results.values() for runs in t.values() for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
