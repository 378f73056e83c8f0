"""Scenario 4, outbox cost: ``send_event`` in the caller's transaction, 1 vs 10,000 endpoints.

No worker runs: what is measured is what the caller pays. Queries are counted
with ``CaptureQueriesContext`` twice: around ``send_event`` inside the
transaction (the cost the design bounds), and around the whole block, commit
and on_commit callbacks included (wake-ups published from the producer).
Wake-ups pile up in the broker's Redis db and are flushed afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from benchmarks.engine_support import services
from benchmarks.engine_support.bench import Bench
from benchmarks.engine_support.contenders import EVENT_TYPE, ours_payload
from benchmarks.engine_support.report import Section, fmt, fmt_ratio, median, ratio

SECRET = "whsec_" + "A" * 43 + "="


@dataclass
class Cost:
    endpoints: int
    queries: list[str]  # inside the transaction, send_event only
    block_queries: list[str]  # the whole atomic block, on_commit included
    call: float  # median seconds of send_event inside the transaction
    block: float  # median seconds of the whole block, commit and on_commit included


def measure(endpoints: int, calls: int) -> Cost:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from webhooks_app import send_event

    # The first call warms caches up and is the one whose queries are counted: the
    # capture logs every statement (1 MB of SQL with 10,000 endpoints), so it is not timed.
    with CaptureQueriesContext(connection) as block:
        with transaction.atomic():
            with CaptureQueriesContext(connection) as inner:
                send_event(EVENT_TYPE, ours_payload(0))
    calls_s, blocks_s = [], []
    for number in range(1, calls + 1):
        started = time.perf_counter()
        with transaction.atomic():
            before = time.perf_counter()
            send_event(EVENT_TYPE, ours_payload(number))
            after = time.perf_counter()
        calls_s.append(after - before)
        blocks_s.append(time.perf_counter() - started)
    return Cost(
        endpoints=endpoints,
        queries=[query["sql"] for query in inner.captured_queries],
        block_queries=[query["sql"] for query in block.captured_queries],
        call=median(calls_s),
        block=median(blocks_s),
    )


def run(bench: Bench) -> Section:
    from webhooks_app.models import Endpoint

    args = bench.args
    bench.apply(bench.webhooks())
    bench.clean()
    url = bench.receiver.url("/outbox")
    section = Section(f"4. Outbox: send_event with 1 and with {args.outbox_endpoints:,} endpoints")
    try:
        Endpoint.objects.create(url=url)
        one = measure(1, args.outbox_calls)
        services.flush_redis(args.broker_url)
        Endpoint.objects.bulk_create(
            (Endpoint(url=url, secret=SECRET) for _ in range(args.outbox_endpoints - 1)),
            batch_size=1000,
        )
        many = measure(args.outbox_endpoints, args.outbox_many_calls)
    finally:
        services.flush_redis(args.broker_url)
        bench.truncate()
    section.text(
        f"Median of {args.outbox_calls} calls (1 endpoint) and {args.outbox_many_calls} calls "
        f"({args.outbox_endpoints:,}), after one warm-up call each (the one whose queries are "
        "counted); every endpoint matches "
        "(event_types=[]). No worker runs; the wake-ups are flushed from the broker."
    )
    section.text()
    section.table(
        [
            "endpoints",
            "queries in send_event",
            "queries in the block (BEGIN…COMMIT + on_commit)",
            "send_event ms",
            "whole block ms",
        ],
        [
            (
                f"{cost.endpoints:,}",
                len(cost.queries),
                len(cost.block_queries),
                fmt(cost.call * 1000, 3),
                fmt(cost.block * 1000, 3),
            )
            for cost in (one, many)
        ],
    )
    section.text(
        f"Ratios {args.outbox_endpoints:,} / 1: "
        f"send_event {fmt_ratio(ratio(many.call, one.call))}, "
        f"whole block {fmt_ratio(ratio(many.block, one.block))}."
    )
    section.text()
    for cost in (one, many):
        section.text(
            f"Queries with {cost.endpoints:,} endpoint(s), the whole block; those of send_event "
            "itself are marked `>`:"
        )
        section.text()
        section.text("```sql")
        inner = list(cost.queries)
        for sql in cost.block_queries:
            mine = bool(inner) and sql == inner[0]
            if mine:
                inner.pop(0)
            section.text(("> " if mine else "  ") + _shorten(sql))
        section.text("```")
        section.text()
    same = len(one.queries) == len(many.queries)
    section.target(
        "same query count for 1 and 10,000 endpoints, ≤ 2",
        same and len(many.queries) <= 2,
        f"{len(one.queries)} and {len(many.queries)} queries",
    )
    return section


def _shorten(sql: str, limit: int = 160) -> str:
    return sql if len(sql) <= limit else sql[: limit - 20] + f" … ({len(sql):,} chars)"
