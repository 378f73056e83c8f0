"""Benchmark the outbound path; figures are ratios against baselines from the same run.

    python benchmarks/outbound.py [--events 300] [--endpoints 50]

1. send_event fan-out: the time per call with N endpoints over the time with 1
   endpoint (the query count is constant, so the ratio should stay small).
2. deliver(): the time per delivery through claim, sign, POST and record, one at a
   time, over a baseline of bare ``requests`` POSTs of the same body to the same
   server (benchmarks/engine.py measures the batched engine in workers).

It uses a throwaway SQLite database (or, with DATABASE_URL set, that PostgreSQL
database: use a scratch one) and an HTTP server on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


class Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        # One write for the whole answer: split writes meet delayed ACKs (~40 ms).
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def log_message(self, *args) -> None:
        pass


def timed(function, repeat: int) -> float:
    """Median seconds per call over ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--endpoints", type=int, default=50)
    args = parser.parse_args()

    database = Path(tempfile.mkdtemp()) / "bench.sqlite3"
    os.environ["WEBHOOKS_TEST_SQLITE"] = str(database)
    import django
    from django.conf import settings

    django.setup()
    if "sqlite" in settings.DATABASES["default"]["ENGINE"]:
        settings.DATABASES["default"]["NAME"] = str(database)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    import requests
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from webhooks_app import send_event
    from webhooks_app.models import Delivery, Endpoint, OutboxEntry

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"

    def send() -> None:
        with transaction.atomic():
            send_event("order.paid", {"order_id": 1})

    # 1. send_event with 1 endpoint, then with N (the wake-up is not part of it).
    import webhooks_app.sending.outbox as outbox
    from webhooks_app.sending import engine, fanout

    outbox.wake_up = lambda **kwargs: True
    Endpoint.objects.create(url=url)
    one = timed(send, args.events)
    with CaptureQueriesContext(connection) as one_queries:
        send()
    Endpoint.objects.bulk_create(
        Endpoint(url=url, secret="whsec_" + "A" * 44) for _ in range(args.endpoints - 1)
    )
    many = timed(send, args.events)
    with CaptureQueriesContext(connection) as many_queries:
        send()

    # 2. deliver() against bare requests.post, both to the same local server.
    Delivery.objects.all().delete()
    OutboxEntry.objects.all().delete()  # part 1's events: not sent here
    Endpoint.objects.exclude(pk=Endpoint.objects.order_by("pk").first().pk).delete()
    pending = []
    for _ in range(args.events):
        send()
        fanout.expand_pending()
        pending.append(Delivery.objects.order_by("-pk").values_list("pk", flat=True).first())
    body = b'{"type":"order.paid","timestamp":"2026-01-01T00:00:00+00:00","data":{"order_id":1}}'
    session = requests.Session()
    baseline = timed(lambda: session.post(url, data=body, timeout=(5, 15)).content, args.events)
    ids = iter(pending)
    ours = timed(lambda: engine.deliver(next(ids)), args.events)
    assert Delivery.objects.filter(status="succeeded").count() == args.events

    print(f"send_event, 1 endpoint:          {one * 1e3:8.3f} ms/call, {len(one_queries)} queries")
    print(
        f"send_event, {args.endpoints} endpoints:        {many * 1e3:8.3f} ms/call, "
        f"{len(many_queries)} queries"
    )
    print(f"  ratio {args.endpoints} / 1 endpoints:        {many / one:8.2f}x")
    print(f"requests.post baseline:          {baseline * 1e3:8.3f} ms/request")
    print(f"deliver() (claim+sign+POST+record): {ours * 1e3:5.3f} ms/delivery")
    print(f"  ratio deliver / baseline:      {ours / baseline:8.2f}x")
    server.shutdown()


if __name__ == "__main__":
    main()
