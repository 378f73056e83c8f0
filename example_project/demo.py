#!/usr/bin/env python
"""A shop sends webhooks to itself through a real Celery worker. Run it from anywhere:

    python example_project/demo.py

1. Migrates a fresh SQLite database (example_project/db.sqlite3).
2. Starts the Django dev server on a free port of 127.0.0.1. It serves two receiving
   URLs: /hooks/shop/ answers 200, /hooks/flaky/ answers 503 twice per webhook, then 200.
3. Starts a real Celery worker (with an embedded beat running the sweep every 10 s) on
   kombu's filesystem broker in example_project/.broker/, which needs no server.
4. Creates one endpoint per receiving URL and places a few orders: each order and its
   ``order.created`` webhook commit in one transaction. One order rolls back and so
   sends nothing.
5. Polls the database until every delivery has finished, then prints the deliveries,
   their attempts, and what the receivers recorded.

Exits 0 when every webhook was delivered and recorded once by its receiver. All traffic
stays on 127.0.0.1. Logs of the server and the worker are in example_project/.broker/.
With DATABASE_URL or CELERY_BROKER_URL set, those are used instead (see settings.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent  # example_project/
SCRATCH = HERE / ".broker"  # broker folders, beat schedule, logs
TIMEOUT = 60  # seconds for every delivery to finish
ORDERS = [("Ada", "12.50"), ("Grace", "99.00"), ("Linus", "7.25")]

sys.path.insert(0, str(HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")


def say(message: str = "") -> None:
    print(message, flush=True)


# --- Subprocesses: the dev server and the Celery worker --------------------------------


class Process:
    """A subprocess in its own process group, with its output in a log file."""

    running: list[Process] = []  # stopped by main(), whatever happens

    def __init__(self, name: str, args: list[str]) -> None:
        self.name = name
        self.log = SCRATCH / f"{name}.log"
        with self.log.open("wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, *args],
                cwd=HERE,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only this script; it stops the rest
            )
        Process.running.append(self)

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(
                f"The {self.name} exited with status {self.popen.returncode}; "
                f"the end of {self.log}:\n{self.tail()}"
            )

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join("    " + line for line in text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the process group; SIGKILL it if it has not stopped within 10 s."""
        if self.popen.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.popen.pid, sig)
                    self.popen.wait(timeout=wait)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        say(f"  stopped the {self.name}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, ready, process: Process, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        process.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"The {what} was not ready within {timeout} s:\n{process.tail()}")
        time.sleep(0.2)


def start_server(port: int) -> Process:
    server = Process("server", ["manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"])

    def answers() -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/hooks/shop/", timeout=1)
        except urllib.error.HTTPError:
            return True  # 405 Method Not Allowed: the server is up
        except OSError:
            return False
        return True

    wait_for("dev server", answers, server)
    return server


def start_worker() -> Process:
    args = (
        "-m celery -A demo_site worker --beat --pool=threads --concurrency=4 --loglevel=INFO"
        " --without-gossip --without-mingle --without-heartbeat"
    ).split()
    worker = Process("worker", [*args, f"--schedule={SCRATCH / 'celerybeat-schedule'}"])
    wait_for("Celery worker", lambda: " ready." in worker.log.read_text(errors="replace"), worker)
    return worker


# --- The demo -----------------------------------------------------------------------------


def prepare() -> None:
    """A fresh SQLite database and broker folder, a shared secret, then migrate."""
    if not os.environ.get("DATABASE_URL"):
        for suffix in ("", "-wal", "-shm"):
            (HERE / f"db.sqlite3{suffix}").unlink(missing_ok=True)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir()

    from webhooks_app import signing

    # The secret both sides share: the endpoints sign with it, the receiving views
    # (in the server subprocess, which inherits this environment) verify with it.
    os.environ["SHOP_WEBHOOK_SECRET"] = signing.generate_secret()

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def place_orders(port: int):
    from django.db import transaction
    from shop.models import Order
    from shop.orders import place_order

    from webhooks_app import send_event
    from webhooks_app.models import Endpoint, Event

    # Deliveries of earlier runs (on a kept PostgreSQL database) must not go to dead ports.
    Endpoint.objects.filter(description__startswith="demo:").update(is_active=False)
    secret = os.environ["SHOP_WEBHOOK_SECRET"]
    endpoints = [
        Endpoint.objects.create(
            url=f"http://127.0.0.1:{port}/hooks/{name}/",
            secret=secret,
            event_types=["order.*"],
            description=f"demo: {name} receiver",
        )
        for name in ("shop", "flaky")
    ]
    for endpoint in endpoints:
        say(f"  endpoint {endpoint.url}")

    events_before = Event.objects.count()
    orders = [place_order(customer, Decimal(total)) for customer, total in ORDERS]
    for order in orders:
        say(f"  placed {order}: order.created recorded with its deliveries")

    # A transaction that rolls back takes its webhook with it.
    try:
        with transaction.atomic():
            place_order("Mallory", Decimal("1000.00"))
            raise PermissionError("payment declined")
    except PermissionError as exc:
        say(f"  an order for Mallory rolled back ({exc}): no event, nothing sent")
    assert Event.objects.count() - events_before == len(orders)
    assert not Order.objects.filter(customer="Mallory").exists()

    # An idempotency key already used returns the first event and sends nothing new.
    first = Event.objects.get(idempotency_key=f"order-{orders[0].pk}-created")
    again = send_event("order.created", {}, idempotency_key=first.idempotency_key)
    assert again.pk == first.pk
    say(f"  order #{orders[0].pk}'s event sent again with the same idempotency key: {again.pk},")
    say("  the first event, and no new deliveries")
    return endpoints


def tally(deliveries) -> dict[str, int]:
    counts = {"delivered": 0, "retrying": 0, "queued": 0, "failed": 0}
    for status, attempts in deliveries.values_list("status", "attempt_count"):
        if status == "succeeded":
            counts["delivered"] += 1
        elif status == "failed":
            counts["failed"] += 1
        else:
            counts["retrying" if attempts else "queued"] += 1
    return counts


def wait_for_deliveries(deliveries, processes: list[Process]) -> dict[str, int]:
    started, last = time.monotonic(), None
    while True:
        counts = tally(deliveries)
        if counts != last:
            summary = ", ".join(f"{n} {label}" for label, n in counts.items())
            say(f"  [{time.monotonic() - started:4.1f} s] {summary}")
            last = counts
        if not counts["retrying"] and not counts["queued"]:
            return counts
        if time.monotonic() - started > TIMEOUT:
            say(f"  gave up after {TIMEOUT} s")
            return counts
        for process in processes:
            process.check_alive()
        time.sleep(0.25)


def receiver(endpoint) -> str:
    """ "shop" for http://127.0.0.1:8000/hooks/shop/."""
    return urlsplit(endpoint.url).path.rstrip("/").rsplit("/", 1)[-1]


def report(deliveries) -> bool:
    """Print both sides; True if every delivery succeeded and was recorded exactly once."""
    from shop.models import ReceivedWebhook

    deliveries = deliveries.select_related("endpoint").order_by("event__created_at", "endpoint_id")
    say("\nDeliveries (sender side; attempt: HTTP status or error, seconds after the event)")
    say(f"  {'webhook-id':<32} {'endpoint':<14} {'status':<10} attempts")
    for delivery in deliveries:
        attempts = ", ".join(
            f"#{a.number} {a.status_code or a.error_type} "
            f"+{(a.created_at - delivery.created_at).total_seconds():.1f}s"
            for a in delivery.attempts.order_by("number")
        )
        path = urlsplit(delivery.endpoint.url).path
        say(f"  {delivery.event_id:<32} {path:<14} {delivery.status:<10} {attempts}")

    ids = [delivery.event_id for delivery in deliveries]
    received = sorted(
        ReceivedWebhook.objects.filter(webhook_id__in=ids),
        key=lambda item: (ids.index(item.webhook_id), item.source != "shop"),
    )
    say("\nReceived (receiver side; a webhook received again is recorded once)")
    say(f"  {'webhook-id':<32} {'receiver':<9} {'type':<14} times received")
    for item in received:
        say(f"  {item.webhook_id:<32} {item.source:<9} {item.event_type:<14} {item.times_received}")

    expected = {(delivery.event_id, receiver(delivery.endpoint)) for delivery in deliveries}
    recorded = {(item.webhook_id, item.source) for item in received}
    all_succeeded = all(delivery.status == "succeeded" for delivery in deliveries)
    return all_succeeded and expected == recorded and len(received) == len(expected)


def main() -> int:
    say("webhooks_app demo\n\n1. Migrating a fresh database")
    prepare()
    from webhooks_app.models import Delivery

    port = free_port()
    try:
        say(f"2. Starting the dev server on http://127.0.0.1:{port}/")
        start_server(port)
        say("3. Starting a Celery worker (with beat) on the broker")
        start_worker()
        say("4. Creating endpoints and placing orders")
        endpoints = place_orders(port)
        deliveries = Delivery.objects.filter(endpoint__in=endpoints)
        say(f"5. Waiting for {deliveries.count()} deliveries (retry schedule 1, 2, 4 s)")
        counts = wait_for_deliveries(deliveries, Process.running)
        ok = report(deliveries)
    finally:
        say("\nCleaning up")
        for process in reversed(Process.running):
            process.stop()

    if ok:
        say(f"\nOK: all {counts['delivered']} deliveries succeeded and were recorded once each.")
        return 0
    say("\nFAILED: not every webhook was delivered and recorded; see the tables above and")
    say(f"the logs in {SCRATCH}.")
    return 1


def on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)  # runs the clean-up in main's finally


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even when started with &
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("\nInterrupted.")
        sys.exit(130)
    except RuntimeError as exc:  # a subprocess did not start or died
        say(f"\nFAILED: {exc}")
        sys.exit(1)
