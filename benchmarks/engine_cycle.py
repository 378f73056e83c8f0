"""The engine's own cost, in one process: own → lease ahead → send → record, no Celery.

    .venv/bin/python benchmarks/engine_cycle.py [--deliveries 2000] [--endpoints 1]
        [--rounds 3] [--setting KEY=VALUE] [--profile]

A scratch PostgreSQL database gets ``--deliveries`` due deliveries (``--endpoints``
endpoints on the benchmark's asyncio receiver), then :func:`webhooks_app.sending.engine.run`
drains them in this process. Per round it prints the wall time, this process's CPU
time per delivery, the statements per claim and per recording (Django's
``execute_wrapper``) and the receiver's count; with ``--profile`` a pyinstrument
profile of the last round goes to ``benchmarks/results/engine-cycle-profile.txt``.

It isolates what :mod:`benchmarks.engine` cannot: the claim and recording
statements' cost without the worker, the broker and the producer competing for
the same two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE_URL = "postgres://postgres@127.0.0.1:5432/webhooks_cycle"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--database-url", default=DATABASE_URL)
    args = parser.parse_args()

    from benchmarks.engine_support import services

    services.loopback_only(args.database_url)
    services.ensure_postgres(args.database_url)
    services.recreate_database(args.database_url)
    os.environ["BENCH_DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.engine_support.settings")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from benchmarks.engine_support.processes import Receiver

    call_command("migrate", verbosity=0)
    overrides = dict(_setting(text) for text in args.setting)
    settings.WEBHOOKS = {"ALLOWED_NETWORKS": ["127.0.0.0/8"], "TIMEOUT": [5, 15], **overrides}
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    receiver = Receiver(results_dir)
    try:
        rows = [
            _round(receiver, args, profile=args.profile and n == args.rounds - 1)
            for n in range(args.rounds)
        ]
    finally:
        receiver.stop()
    print(f"settings: {settings.WEBHOOKS}")
    print(
        "| round | wall s | deliveries/s | CPU ms/delivery | claims | statements/claim"
        " | recordings | statements/recording |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, row in enumerate(rows, 1):
        print(
            f"| {n} | {row['wall']:.2f} | {row['rate']:.0f} | {row['cpu_ms']:.2f} |"
            f" {row['claims']} | {row['per_claim']:.1f} | {row['records']} |"
            f" {row['per_record']:.1f} |"
        )
    print(
        f"| median | | {statistics.median(r['rate'] for r in rows):.0f} |"
        f" {statistics.median(r['cpu_ms'] for r in rows):.2f} | | | | |"
    )


def _setting(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _round(receiver, args: argparse.Namespace, *, profile: bool) -> dict:
    from django.db import connection
    from django.utils import timezone

    from webhooks_app import signing
    from webhooks_app.models import Delivery, Endpoint, Event
    from webhooks_app.sending import claims, engine, recording

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE webhooks_app_attempt, webhooks_app_delivery, webhooks_app_event,"
            " webhooks_app_endpoint RESTART IDENTITY CASCADE"
        )
    receiver.reset()
    endpoints = Endpoint.objects.bulk_create(
        Endpoint(url=receiver.url(f"/hook/{n}"), secret=signing.generate_secret())
        for n in range(args.endpoints)
    )
    now = timezone.now()
    events = Event.objects.bulk_create(
        Event(event_type="order.paid", payload={"pad": "x" * 1000}) for _ in range(args.deliveries)
    )
    Delivery.objects.bulk_create(
        Delivery(event=event, endpoint=endpoints[n % len(endpoints)], next_attempt_at=now)
        for n, event in enumerate(events)
    )
    counts: Counter[str] = Counter()
    phase = {"name": "other"}

    def count(execute, sql, params, many, context):
        counts[phase["name"]] += 1
        return execute(sql, params, many, context)

    original_claim, original_record = claims.claim_owned, recording.record

    def claim_owned(*a, **k):
        counts["claims"] += 1
        with _phase(phase, "claim"):
            return original_claim(*a, **k)

    def record(*a, **k):
        counts["records"] += 1
        with _phase(phase, "record"):
            return original_record(*a, **k)

    engine.claims.claim_owned, engine.recording.record = claim_owned, record
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    try:
        with connection.execute_wrapper(count):
            cpu, wall = time.process_time(), time.perf_counter()
            engine.run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        engine.claims.claim_owned, engine.recording.record = original_claim, original_record
    if profiler is not None:
        profiler.stop()
        out = ROOT / "benchmarks" / "results" / "engine-cycle-profile.txt"
        out.write_text(profiler.output_text(unicode=False, show_all=False))
        print(f"profile: {out}")
    received = receiver.stats()["count"]
    if received != args.deliveries:
        raise SystemExit(f"the receiver saw {received} requests, not {args.deliveries}")
    return {
        "wall": wall,
        "rate": args.deliveries / wall,
        "cpu_ms": cpu * 1000 / args.deliveries,
        "claims": counts["claims"],
        "records": counts["records"],
        "per_claim": counts["claim"] / max(1, counts["claims"]),
        "per_record": counts["record"] / max(1, counts["records"]),
    }


@contextmanager
def _phase(phase: dict, name: str):
    outer, phase["name"] = phase["name"], name
    try:
        yield
    finally:
        phase["name"] = outer


if __name__ == "__main__":
    main()
