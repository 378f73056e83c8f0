#!/usr/bin/env python
"""A shop sends webhooks to its own receivers through a real Celery worker. Run it from anywhere:

    python example_project/demo.py [--no-serve]

1. Migrates a fresh SQLite database (example_project/db.sqlite3).
2. Starts the Django dev server on a free port of 127.0.0.1: the admin at /admin/, the
   REST API at /api/webhooks/ and two receivers built on ``WebhookReceiverView``
   (shop/views.py): /hooks/shop/ (``ShopReceiver``) and /hooks/flaky/ (``FlakyReceiver``,
   which fails on purpose: for every third order its handler raises once, for every
   third order it processes the webhook but answers 503 once, as if the answer were lost).
3. Starts a real Celery worker (with an embedded beat running the sweep every 10 s) on
   kombu's filesystem broker in example_project/.broker/, which needs no server.
4. Creates one endpoint per receiver and places a batch of orders: each order and its
   ``order.created`` webhook commit in one transaction. One order rolls back and so
   sends nothing; one event is sent again with its idempotency key and is not duplicated;
   a payload that its event type's schema refuses (shop/webhooks.py) is not written at all.
   Two merchants on the shop (tenants ``acme`` and ``globex``) have endpoints of their own:
   their orders' webhooks reach their endpoint only, and the shop's own endpoints never
   see them.
5. Prints every delivery attempt as the worker records it, with the receiver's answer,
   and progress lines: delivered, retrying, failed, duplicates suppressed at the receiver.
6. Prints a summary of both sides and checks that every webhook was delivered and
   processed exactly once by each receiver.
7. Creates a superuser (``admin``, with a random password it prints) and prints the
   admin and API URLs, and a customer's signed link into the portal at /portal/. In a
   terminal it keeps serving until Ctrl-C; run non-interactively (stdin not a terminal,
   ``--no-serve``, or ``CI`` set) it stops and exits: 0 when every webhook was delivered
   and processed exactly once, 1 otherwise.

All traffic stays on 127.0.0.1. Logs of the server and the worker are in
example_project/.broker/. With DATABASE_URL or CELERY_BROKER_URL set, those are used
instead (PostgreSQL, Redis; see demo_site/settings.py).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
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

HERE = Path(__file__).resolve().parent  # example_project/
SCRATCH = HERE / ".broker"  # broker folders, beat schedule, logs
TIMEOUT = 90  # seconds for every delivery to finish
ORDERS = [
    ("Ada", "12.50"),
    ("Grace", "99.00"),
    ("Linus", "7.25"),
    ("Barbara", "45.10"),
    ("Ken", "3.99"),
    ("Margaret", "250.00"),
]
RECEIVERS = {
    # path and source: what the receiver does
    "shop": "ShopReceiver: records each order once",
    "flaky": "FlakyReceiver: fails on purpose for two orders in three (see below)",
}
# The shop's merchants (tenants), each with an endpoint of its own, and their orders.
MERCHANT_ORDERS = {
    "acme": [("Alan", "20.00"), ("Edsger", "31.40")],
    "globex": [("Frances", "64.00")],
}
ADMIN_USERNAME = "admin"

sys.path.insert(0, str(HERE))
# Always this project's settings, whatever the environment says (e.g. under pytest).
os.environ["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"


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

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(
                f"The {self.name} exited with status {self.popen.returncode}; "
                f"the end of {self.log}:\n{self.tail()}"
            )

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join("    " + line for line in text.splitlines()[-lines:])

    def stop(self, quiet: bool = False) -> None:
        """SIGTERM the process group; SIGKILL it if it has not stopped within 10 s."""
        if self.alive():
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.popen.pid, sig)
                    self.popen.wait(timeout=wait)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self in Process.running:
            Process.running.remove(self)
        if not quiet:
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


def http(url: str, auth: tuple[str, str] | None = None, timeout: float = 5) -> tuple[int, bytes]:
    """GET a 127.0.0.1 URL; (status, body), whatever the status."""
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start_server() -> tuple[Process, int]:
    """The dev server on a free port; another port if that one was taken meanwhile."""
    for _ in range(3):
        port = free_port()
        server = Process("server", ["manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"])

        def answers(port: int = port) -> bool:
            try:
                http(f"http://127.0.0.1:{port}/hooks/shop/", timeout=1)
            except OSError:
                return False
            return True  # any answer (405 for a GET): the server is up

        try:
            wait_for("dev server", answers, server)
        except RuntimeError:
            if "already in use" not in server.log.read_text(errors="replace"):
                raise
            server.stop(quiet=True)  # the port was taken between free_port() and now
            continue
        return server, port
    raise RuntimeError("The dev server found no free port")


def start_worker() -> Process:
    args = (
        "-m celery -A demo_site worker --beat --pool=threads --concurrency=4 --loglevel=INFO"
        " --without-gossip --without-mingle --without-heartbeat"
    ).split()
    worker = Process("worker", [*args, f"--schedule={SCRATCH / 'celerybeat-schedule'}"])
    wait_for("Celery worker", lambda: " ready." in worker.log.read_text(errors="replace"), worker)
    return worker


# --- The demo -----------------------------------------------------------------------------


def prepare() -> str:
    """A fresh SQLite database and broker folder, a shared secret, then migrate."""
    if not os.environ.get("DATABASE_URL"):
        for suffix in ("", "-wal", "-shm"):
            (HERE / f"db.sqlite3{suffix}").unlink(missing_ok=True)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir()

    from webhooks_app import signing

    # The secret both sides share: the endpoints sign with it, the receivers (in the
    # server subprocess, which inherits this environment) verify with it.
    os.environ["SHOP_WEBHOOK_SECRET"] = signing.generate_secret()

    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        where = f"SQLite, a fresh {Path(database['NAME']).relative_to(HERE.parent)}"
    else:
        where = f"PostgreSQL, database {database['NAME']!r} on {database['HOST']}"
    broker = settings.CELERY_BROKER_URL
    if broker.startswith("filesystem://"):
        broker = f"kombu's filesystem transport in {SCRATCH.relative_to(HERE.parent)}/"
    return f"{where}; broker: {broker}"


def place_orders(port: int):
    from django.db import transaction
    from shop.models import Order
    from shop.orders import place_order
    from shop.views import HANDLER_ERROR, LOST_ANSWER

    from webhooks_app import InvalidPayload, send_event
    from webhooks_app.models import Endpoint, Event

    # Deliveries of earlier runs (on a kept PostgreSQL database) must not go to dead ports.
    Endpoint.objects.filter(description__startswith="demo:").update(is_active=False)
    secret = os.environ["SHOP_WEBHOOK_SECRET"]
    endpoints = []
    for name, what in RECEIVERS.items():
        endpoint = Endpoint.objects.create(
            url=f"http://127.0.0.1:{port}/hooks/{name}/",
            secret=secret,
            event_types=["order.*"],
            description=f"demo: {name} receiver",
        )
        endpoints.append(endpoint)
        say(f"  endpoint #{endpoint.pk} {endpoint.url:<36} {what}")
    for merchant in MERCHANT_ORDERS:
        endpoint = Endpoint.objects.create(
            url=f"http://127.0.0.1:{port}/hooks/shop/",
            secret=secret,
            event_types=["order.*"],
            tenant=merchant,
            description=f"demo: shop receiver, the endpoint of merchant {merchant}",
        )
        endpoints.append(endpoint)
        say(f"  endpoint #{endpoint.pk} {endpoint.url:<36} merchant {merchant}'s own endpoint")

    events_before = Event.objects.count()
    orders = [place_order(customer, Decimal(total)) for customer, total in ORDERS]
    for merchant, placed in MERCHANT_ORDERS.items():
        for customer, total in placed:
            order = place_order(customer, Decimal(total), merchant=merchant)
            say(f"  placed {order!s:<32} with merchant {merchant}: to its endpoint alone")
    staged = {
        HANDLER_ERROR: "flaky: its handler fails the first time (500, rolled back)",
        LOST_ANSWER: "flaky: processes it, then answers 503 once (a lost answer)",
    }
    for order in orders:
        note = staged.get(order.pk % 3, "no trouble staged")
        say(f"  placed {order!s:<32} + its order.created event; {note}")

    # A transaction that rolls back takes its webhook with it.
    try:
        with transaction.atomic():
            place_order("Mallory", Decimal("1000.00"))
            raise PermissionError("payment declined")
    except PermissionError as exc:
        say(f"  an order for Mallory rolled back ({exc}): no event, nothing sent")
    merchants_orders = sum(len(placed) for placed in MERCHANT_ORDERS.values())
    assert Event.objects.count() - events_before == len(orders) + merchants_orders
    assert not Order.objects.filter(customer="Mallory", pk__gt=orders[-1].pk).exists()

    # An idempotency key already used returns the first event and sends nothing new.
    first = Event.objects.get(idempotency_key=f"order-{orders[0].pk}-created")
    again = send_event("order.created", first.payload, idempotency_key=first.idempotency_key)
    assert again.pk == first.pk
    say(
        f"  order #{orders[0].pk}'s event sent again with its idempotency key: "
        "the same event came back, no new deliveries"
    )

    # A payload that its type's schema (shop/webhooks.py) refuses is never written.
    try:
        send_event("order.created", {"order_id": "forty-two", "customer": "Eve", "total": "1.00"})
    except InvalidPayload as exc:
        say(f"  a malformed order.created payload was refused, nothing written: {exc.detail}")
    else:
        raise AssertionError("VALIDATE_PAYLOADS let a malformed payload through")
    assert Event.objects.count() - events_before == len(orders) + merchants_orders
    return endpoints, orders


def expected_webhooks(endpoint) -> int:
    """The shop's own endpoints get the shop's orders; a merchant's, that merchant's."""
    return len(MERCHANT_ORDERS[endpoint.tenant] if endpoint.tenant else ORDERS)


def endpoint_name(endpoint) -> str:
    """The receiver it points at, and whose it is: "shop", "flaky", "shop@acme"."""
    name = endpoint.description.removeprefix("demo: ").split()[0]
    return f"{name}@{endpoint.tenant}" if endpoint.tenant else name


def receiver_answer(attempt) -> str:
    """What the receiver said, from the response body the sender stored."""
    if attempt.status_code is None:
        return f"{attempt.error_type or 'error'}: {attempt.error[:60]}"
    try:
        body = json.loads(attempt.response_body)
    except ValueError:
        body = {}
    said = body.get("status", "") if isinstance(body, dict) else ""
    if "demo" in body:
        return "processed, answered 503 on purpose (lost answer)"
    return {
        "processed": "processed",
        "duplicate": "duplicate: already processed, nothing run",
        "failed": "handler error: rolled back, kept as failed",
    }.get(said, said or attempt.response_body[:60])


class Watcher:
    """Prints each new attempt and, when they change, the progress counts.

    The counts come from the attempts printed, so lines and counts always agree:
    the delivery statuses are read first, then the attempts (an attempt and its
    delivery's new status are written in one transaction).
    """

    def __init__(self, deliveries, started: float) -> None:
        self.deliveries = deliveries
        self.started = started  # time.time() when the first order was placed
        self.last_attempt = 0
        self.tried: dict[int, int] = {}  # delivery pk: attempts seen
        self.delivered: set[int] = set()
        self.counts = {"retries": 0, "handler errors": 0, "duplicates suppressed": 0}
        self.progress: dict[str, int] = {}
        self.by_id = {
            d.pk: d for d in deliveries.select_related("endpoint", "event").order_by("pk")
        }

    def poll(self) -> None:
        from webhooks_app.models import Attempt

        statuses = dict(self.deliveries.values_list("pk", "status"))
        attempts = list(
            Attempt.objects.filter(delivery__in=self.deliveries, pk__gt=self.last_attempt).order_by(
                "pk"
            )
        )
        last_number = {a.delivery_id: a.number for a in attempts}  # the latest per delivery
        for attempt in attempts:
            self.last_attempt = attempt.pk
            delivery = self.by_id[attempt.delivery_id]
            self.tried[delivery.pk] = max(self.tried.get(delivery.pk, 0), attempt.number)
            answer = receiver_answer(attempt)
            if attempt.status_code and 200 <= attempt.status_code < 300:
                result = "delivered"
                self.delivered.add(delivery.pk)
            elif statuses[delivery.pk] == "failed" and attempt.number == last_number[delivery.pk]:
                result = "FAILED for good"
            else:
                result = "retry scheduled"
            if answer.startswith("duplicate"):
                self.counts["duplicates suppressed"] += 1
            if answer.startswith("handler error"):
                self.counts["handler errors"] += 1
            if attempt.number > 1:
                self.counts["retries"] += 1
            name = endpoint_name(delivery.endpoint)
            seconds = attempt.created_at.timestamp() - self.started
            order = delivery.event.payload.get("order_id", "?")
            say(
                f"  {f'+{seconds:.1f}s':>6} order #{order:<3} -> {name:<11} try {attempt.number}:"
                f" {attempt.status_code or '---'} {answer:<48} {result}"
            )
        progress = {"delivered": 0, "retrying": 0, "queued": 0, "failed": 0}
        for pk, status in statuses.items():
            if pk in self.delivered:
                progress["delivered"] += 1
            elif status == "failed":
                progress["failed"] += 1
            else:
                progress["retrying" if pk in self.tried else "queued"] += 1
        if progress != self.progress:
            self.progress = progress
            elapsed = time.time() - self.started
            say(
                f"  [{elapsed:4.1f} s] {progress['delivered']}/{len(statuses)} delivered,"
                f" {progress['retrying']} retrying, {progress['queued']} queued or in flight,"
                f" {progress['failed']} failed;"
                f" duplicates suppressed at the receiver: {self.counts['duplicates suppressed']}"
            )

    def finished(self) -> bool:
        return not self.progress.get("retrying") and not self.progress.get("queued")


def wait_for_fan_out() -> None:
    """send_event writes the events alone; the worker writes their deliveries after commit."""
    from webhooks_app.models import OutboxEntry

    deadline = time.monotonic() + TIMEOUT
    while OutboxEntry.objects.exists():
        if time.monotonic() > deadline:
            say(f"  gave up waiting for the worker to fan the events out after {TIMEOUT} s")
            return
        for process in Process.running:
            process.check_alive()
        time.sleep(0.05)


def watch(deliveries, started: float) -> Watcher:
    watcher = Watcher(deliveries, started)
    deadline = time.monotonic() + TIMEOUT
    while True:
        watcher.poll()
        if watcher.finished():
            return watcher
        if time.monotonic() > deadline:
            say(f"  gave up waiting after {TIMEOUT} s")
            return watcher
        for process in Process.running:
            process.check_alive()
        time.sleep(0.25)


def summarize(deliveries, watcher: Watcher) -> tuple[bool, str]:
    """Print both sides; (ok, one-line result). ok: every webhook delivered and processed
    exactly once by each receiver."""
    from shop.models import OrderNotification

    from webhooks_app.models import InboundEvent

    deliveries = list(
        deliveries.select_related("endpoint", "event")
        .prefetch_related("attempts")
        .order_by("event__created_at", "endpoint_id")
    )
    ids = {d.event_id for d in deliveries}
    inbound = {(e.source, e.event_id): e for e in InboundEvent.objects.filter(event_id__in=ids)}
    notes: dict[tuple[str, str], int] = {}
    for source, webhook_id in OrderNotification.objects.filter(webhook_id__in=ids).values_list(
        "source", "webhook_id"
    ):
        notes[source, webhook_id] = notes.get((source, webhook_id), 0) + 1

    say(
        "\nEvery delivery (sender: HTTP status of each try; receiver: its InboundEvent and the"
        "\nOrderNotification rows its handler wrote)"
    )
    say(
        f"  {'order':<6} {'webhook-id':<30} {'to':<11} {'status':<9} {'tries':<14}"
        f" {'copies':>6} {'runs':>4} {'dupes':>5}  {'inbound':<9} {'rows':>4}"
    )
    problems: list[str] = []
    totals = {"copies": 0, "runs": 0, "suppressed": 0, "errors": 0}
    for delivery in deliveries:
        source = delivery.endpoint.description.removeprefix("demo: ").split()[0]
        tries = " ".join(str(a.status_code or a.error_type) for a in delivery.attempts.all())
        event = inbound.get((source, delivery.event_id))
        copies = 1 + event.duplicate_count if event else 0
        runs = event.processing_attempts if event else 0  # how often the handler ran
        suppressed = copies - runs  # copies that arrived after it was processed: nothing ran
        status = event.status if event else "missing"
        rows = notes.get((source, delivery.event_id), 0)
        totals["copies"] += copies
        totals["runs"] += runs
        totals["suppressed"] += suppressed
        totals["errors"] += runs - (status == "processed")
        say(
            f"  #{delivery.event.payload.get('order_id', '?'):<5} {delivery.event_id:<30}"
            f" {endpoint_name(delivery.endpoint):<11} {delivery.status:<9} {tries:<14}"
            f" {copies:>6} {runs:>4}"
            f" {suppressed:>5}  {status:<9} {rows:>4}"
        )
        label = f"{delivery.event_id} to {source}"
        if delivery.status != "succeeded":
            problems.append(f"{label}: delivery {delivery.status}")
        if status != "processed":
            problems.append(f"{label}: inbound event {status}")
        if rows != 1:
            problems.append(f"{label}: {rows} order notifications, not 1")
    stray = set(notes) - {
        (d.endpoint.description.removeprefix("demo: ").split()[0], d.event_id) for d in deliveries
    }
    if stray:
        problems.append(f"order notifications without a delivery: {sorted(stray)}")
    # Each endpoint got its own tenant's orders, all of them and nothing else.
    for endpoint in {d.endpoint for d in deliveries}:
        tenants = {d.event.tenant for d in deliveries if d.endpoint == endpoint}
        got = sum(d.endpoint == endpoint for d in deliveries)
        expected = expected_webhooks(endpoint)
        if tenants != {endpoint.tenant} or got != expected:
            problems.append(
                f"endpoint #{endpoint.pk} (tenant {endpoint.tenant!r}) got {got} webhooks"
                f" of tenants {sorted(tenants)}, not {expected} of its own"
            )
    # The live count (from the receivers' answers) and the receivers' rows must agree.
    if watcher.counts["duplicates suppressed"] != totals["suppressed"]:
        problems.append("the receivers' answers and their rows disagree on duplicates")

    attempts = sum(len(d.attempts.all()) for d in deliveries)
    delivered = sum(d.status == "succeeded" for d in deliveries)
    say(
        "\n  copies: requests that reached the receiver and were verified; runs: times its"
        "\n  handler ran (a failed run rolled back); dupes = copies - runs, copies that arrived"
        "\n  after the event was processed and ran nothing (InboundEvent.duplicate_count counts"
        "\n  every copy after the first); rows: OrderNotification rows the handler wrote."
    )
    say(
        f"\nSender:   {delivered}/{len(deliveries)} deliveries succeeded in {attempts} attempts"
        f" ({attempts - len(deliveries)} retries)"
    )
    say(
        f"Receiver: {totals['copies']} copies received, handler ran {totals['runs']} times"
        f" ({totals['errors']} handler errors, rolled back and retried),"
        f" {totals['suppressed']} duplicates suppressed"
    )
    ok = not problems
    for problem in problems:
        say(f"  PROBLEM: {problem}")
    result = (
        f"{delivered}/{len(deliveries)} webhooks delivered"
        f" and {'processed exactly once' if ok else 'NOT all processed exactly once'};"
        f" {attempts - len(deliveries)} retries, {totals['errors']} handler errors,"
        f" {totals['suppressed']} duplicates suppressed at the receiver"
    )
    return ok, result


def admin_access(port: int, endpoints) -> bool:
    """A superuser with a fresh random password; print where to log in, check the API."""
    from django.contrib.auth import get_user_model

    password = secrets.token_urlsafe(12)
    user, _ = get_user_model().objects.get_or_create(username=ADMIN_USERNAME)
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()

    base = f"http://127.0.0.1:{port}"
    say(f"  Admin: {base}/admin/   username: {ADMIN_USERNAME}   password: {password}")
    say(f"  API:   {base}/api/webhooks/   (staff only; same credentials, session or HTTP Basic)")
    say(f"         e.g. curl -u {ADMIN_USERNAME}:{password} {base}/api/webhooks/deliveries/")

    ok = True
    status, _ = http(f"{base}/admin/login/")
    ok &= status == 200
    say(f"  checked: GET /admin/login/ -> {status}")
    status, _ = http(f"{base}/api/webhooks/deliveries/")
    ok &= status in (401, 403)
    say(f"  checked: GET /api/webhooks/deliveries/ without credentials -> {status}")
    for endpoint in endpoints:
        path = f"/api/webhooks/deliveries/?endpoint={endpoint.pk}&status=succeeded"
        status, body = http(base + path, auth=(ADMIN_USERNAME, password))
        count = json.loads(body).get("count") if status == 200 else None
        ok &= count == expected_webhooks(endpoint)
        say(f"  checked: GET {path} as {ADMIN_USERNAME} -> {status}, {count} deliveries")
    return ok


def portal_access(port: int, endpoints) -> bool:
    """Merchant acme's signed link into the portal: it opens acme's endpoints page, which
    lists acme's endpoint and no other merchant's."""
    from webhooks_app.portal import portal_link

    merchant = next(iter(MERCHANT_ORDERS))
    link = f"http://127.0.0.1:{port}" + portal_link(merchant, expires_in=8 * 3600)
    say(f"  Portal: {link}")
    say(f"         (merchant {merchant!r}'s own endpoints and deliveries; valid for 8 hours)")
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(link, timeout=5) as response:  # the redirect carries the session cookie
        status, page = response.status, response.read().decode()
    own = [e for e in endpoints if e.tenant == merchant]
    others = [e for e in endpoints if e.tenant != merchant]
    shows_own = all(f"/endpoints/{e.pk}/" in page for e in own)
    hides_others = not any(f"/endpoints/{e.pk}/" in page for e in others)
    say(
        f"  checked: GET the portal link -> {status}, {merchant}'s endpoints page:"
        f" its {len(own)} endpoint{'s' if len(own) != 1 else ''}"
        f" {'listed' if shows_own else 'NOT listed'},"
        f" the other {len(others)} {'hidden' if hides_others else 'SHOWN'}"
    )
    return status == 200 and "<h1>Endpoints</h1>" in page and shows_own and hides_others


def serve(processes: list[Process]) -> None:
    """Until Ctrl-C (or a subprocess dies)."""
    while True:
        for process in processes:
            process.check_alive()
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--no-serve",
        action="store_true",
        help="exit after the summary even in a terminal (the default when stdin is not one)",
    )
    args = parser.parse_args(argv)
    interactive = sys.stdin.isatty() and not args.no_serve and not os.environ.get("CI")

    started_at = time.monotonic()
    say("webhooks_app demo\n\n1. Migrating the database")
    say(f"  {prepare()}")
    from webhooks_app import conf
    from webhooks_app.models import Delivery

    try:
        say("2. Starting the dev server (admin, REST API, receivers)")
        server, port = start_server()
        say(f"  http://127.0.0.1:{port}/ (log: {server.log.relative_to(HERE.parent)})")
        say("3. Starting a Celery worker (with beat running the sweep)")
        worker = start_worker()
        say(f"  log: {worker.log.relative_to(HERE.parent)}")
        say("4. Creating endpoints and placing orders")
        started = time.time()
        endpoints, _ = place_orders(port)
        wait_for_fan_out()
        deliveries = Delivery.objects.filter(endpoint__in=endpoints)
        schedule = ", ".join(f"{s:g}" for s in conf.get("RETRY_SCHEDULE"))
        say(
            f"5. Delivering {deliveries.count()} webhooks (retry schedule {schedule} s;"
            " every attempt as the worker records it)"
        )
        watcher = watch(deliveries, started)
        ok, result = summarize(deliveries, watcher)
        say("\n6. Look around: the admin, the REST API and the customer portal")
        ok &= admin_access(port, endpoints)
        ok &= portal_access(port, endpoints)
        if interactive:
            say("\nServing (the worker too: try an endpoint's actions in the admin).")
            say("Press Ctrl-C to stop.")
            try:
                serve([server, worker])
            except KeyboardInterrupt:
                say("\nCtrl-C")
        else:
            say(
                "\nNot interactive (stdin is not a terminal, --no-serve or CI): stopping."
                "\nRun the demo in a terminal to keep the server up and log in."
            )
    finally:
        say("\nCleaning up")
        for process in reversed(list(Process.running)):
            process.stop()

    elapsed = time.monotonic() - started_at
    if ok:
        say(f"\nOK: {result} ({elapsed:.0f} s).")
        return 0
    say(f"\nFAILED: {result}; see the table above and the logs in {SCRATCH}.")
    return 1


def on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)  # runs the clean-up in main's finally


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)  # the terminal went away
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even when started with &
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("\nInterrupted.")
        sys.exit(130)
    except RuntimeError as exc:  # a subprocess did not start or died
        say(f"\nFAILED: {exc}")
        sys.exit(1)
