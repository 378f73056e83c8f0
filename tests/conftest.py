"""Real parts for the tests: a recording HTTP server on 127.0.0.1 and Celery workers."""

from __future__ import annotations

import ipaddress
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

ROOT = Path(__file__).resolve().parent.parent
PROCESS_QUEUE = "webhooks_tests_process"
SERVICES = bool(os.environ.get("DATABASE_URL") and os.environ.get("CELERY_BROKER_URL"))


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (bounded: tests stop by themselves)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when the request arrived
    status: int | None = None  # the status it was answered with
    ended: float | None = None  # when its answer was written (or the sender hung up)
    client_port: int = 0  # the sender's port: requests on one kept-alive connection share it

    def json(self):
        return json.loads(self.body)


class _BackloggedServer(ThreadingHTTPServer):
    request_queue_size = 128  # the engine opens dozens of connections at once


class RecordingServer:
    """An HTTP server on 127.0.0.1 that records requests and plays scripted replies.

    ``respond``, when set, chooses each request's reply; otherwise ``routes``
    answer requests by path, and other requests use ``replies`` in order, then
    ``default``. ``on_request`` runs in the server's thread for each
    request, before the reply, for checks made while a delivery is in flight.
    ``max_in_flight`` is the most requests it was answering at once.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: queue.SimpleQueue[Reply] = queue.SimpleQueue()
        self.routes: dict[str, Reply] = {}
        self.default = Reply()
        self.respond: Callable[[Received], Reply] | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.on_request: Callable[[Received], None] | None = None
        self.received = threading.Condition()
        self._httpd = _BackloggedServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def reply(self, *replies: Reply) -> None:
        for item in replies:
            self.replies.put(item)

    def wait_for(self, count: int, timeout: float = 15) -> list[Received]:
        """Block until ``count`` requests have arrived (or fail after ``timeout``)."""
        with self.received:
            ok = self.received.wait_for(lambda: len(self.requests) >= count, timeout)
        assert ok, f"expected {count} requests, got {len(self.requests)}"
        return self.requests

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                item = Received(
                    "POST", self.path, dict(self.headers.items()), self.rfile.read(length)
                )
                item.client_port = self.client_address[1]
                reply = server.respond(item) if server.respond else server.routes.get(self.path)
                if reply is None:
                    try:
                        reply = server.replies.get_nowait()
                    except queue.Empty:
                        reply = server.default
                item.status = reply.status
                if server.on_request:
                    server.on_request(item)
                with server.received:
                    server.requests.append(item)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server.received.notify_all()
                try:
                    if reply.delay:
                        time.sleep(reply.delay)
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the sender gave up on this request
                finally:
                    item.ended = time.monotonic()
                    with server.received:
                        server.in_flight -= 1

            def log_message(self, *args) -> None:
                pass

        return Handler

    def start(self) -> RecordingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def http_server() -> Iterator[RecordingServer]:
    server = RecordingServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def celery_app():
    from tests.celery_app import app

    return app


def running_worker(app):
    """Start a real Celery worker in a thread of this process, on the configured broker."""
    from celery.contrib.testing.worker import start_worker

    return start_worker(
        app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=10
    )


@pytest.fixture(scope="session")
def _shared_worker(django_db_setup, django_db_blocker, celery_app) -> Iterator[object]:
    # One worker for the session (starting and stopping one takes seconds),
    # consuming only while a test asks for it (see celery_worker). It is stopped
    # before the test database is destroyed. Celery's Django fix-up runs the
    # system checks on start, which may touch the database.
    with django_db_blocker.unblock(), running_worker(celery_app) as worker:
        _consume(celery_app, worker, False)
        yield worker


def _consume(app, worker, on: bool) -> None:
    """Start or stop the worker's consumption of the default queue."""
    command = app.control.add_consumer if on else app.control.cancel_consumer
    replies = command(
        app.conf.task_default_queue, destination=[worker.hostname], reply=True, timeout=5
    )
    assert replies, f"the test worker did not answer {command.__name__}"


@pytest.fixture
def celery_worker(transactional_db, celery_app, _shared_worker) -> Iterator[object]:
    """A worker consuming during this test only, from a queue emptied before and after.

    Between such tests the worker consumes nothing, so tasks that other tests
    enqueue are never run (they might reach out for hosts that do not exist).
    Afterwards it waits, a bounded time, for what the worker still holds, so no
    task of this test queries the database while the next test's flush runs
    (on PostgreSQL the two can deadlock).
    """
    from celery.worker import state

    celery_app.control.purge()
    _consume(celery_app, _shared_worker, True)
    yield _shared_worker
    _consume(celery_app, _shared_worker, False)
    celery_app.control.purge()
    deadline = time.monotonic() + 15
    while state.reserved_requests and time.monotonic() < deadline:
        time.sleep(0.05)


@dataclass(frozen=True)
class SentTask:
    """One task message as the broker holds it."""

    name: str
    args: tuple
    kwargs: dict
    eta: str | None
    queue: str


class Broker:
    """The test run's broker (in-memory, or Redis with the services), read back.

    Between tests no worker consumes (see :func:`celery_worker`), so what the
    app sends stays on its queue until a test takes it or the fixture purges it.
    """

    def __init__(self, app) -> None:
        self.app = app

    def _queue(self, connection, name: str):
        return connection.SimpleQueue(name, no_ack=True)

    def taken(self, *queues: str) -> list[SentTask]:
        """Take every message off ``queues`` (default: the default queue), oldest first."""
        found: list[SentTask] = []
        with self.app.connection_for_read() as connection:
            for name in queues or (self.app.conf.task_default_queue,):
                simple = self._queue(connection, name)
                try:
                    while True:
                        try:
                            message = simple.get(block=True, timeout=0.2)
                        except simple.Empty:
                            break
                        args, kwargs, _embed = message.decode()
                        found.append(
                            SentTask(
                                name=message.headers["task"],
                                args=tuple(args),
                                kwargs=kwargs,
                                eta=message.headers.get("eta"),
                                queue=name,
                            )
                        )
                finally:
                    simple.close()
        return found

    def names(self, *queues: str) -> list[str]:
        return [task.name for task in self.taken(*queues)]

    def purge(self, *queues: str) -> None:
        with self.app.connection_for_write() as connection:
            for name in queues or (self.app.conf.task_default_queue,):
                simple = self._queue(connection, name)
                simple.clear()
                simple.close()


@pytest.fixture
def broker(celery_app) -> Iterator[Broker]:
    """The broker, emptied before and after the test, to read what the app sent."""
    found = Broker(celery_app)
    found.purge()
    yield found
    found.purge()


@pytest.fixture
def no_wakeups(broker: Broker) -> Broker:
    """For tests that run the engine themselves: the wake-ups they cause stay on the
    broker, where no worker takes them, and are purged afterwards."""
    return broker


def service_env(db_name: str, webhooks: dict, broker_url: str | None = None) -> dict[str, str]:
    """The environment of a subprocess of the test project on the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "WEBHOOKS_USE_TEST_DB": db_name,
        "WEBHOOKS_TEST_SETTINGS": json.dumps(webhooks),
        "PYTHONPATH": str(ROOT),
    }
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
    return env


class WorkerProcess:
    """A ``celery worker`` subprocess on the test database and the real broker.

    ``broker_url`` points it at another broker than the test run's; ``env`` adds to
    its environment; ``output``, a file, takes its stdout and stderr.
    """

    def __init__(
        self,
        db_name: str,
        queue: str,
        webhooks: dict | None = None,
        *,
        broker_url: str | None = None,
        env: dict[str, str] | None = None,
        output: IO | None = None,
    ) -> None:
        self.db_name = db_name
        self.queue = queue
        self.webhooks = webhooks or {}
        self.broker_url = broker_url
        self.env = env or {}
        self.output = output
        self.name = f"proc-{uuid.uuid4().hex[:8]}@localhost"
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        env = {**service_env(self.db_name, self.webhooks, self.broker_url), **self.env}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.celery_app",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "--loglevel=WARNING",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                f"--queues={self.queue}",
                f"--hostname={self.name}",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=self.output,
            stderr=subprocess.STDOUT if self.output else None,
        )
        return self

    def wait_ready(self, app, timeout: float = 30) -> WorkerProcess:
        """Block until the worker answers a ping: its queue is declared by then."""
        wait_until(lambda: app.control.ping(destination=[self.name], timeout=0.5), timeout)
        return self

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and pool children at once."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def freeze(self) -> None:
        """SIGSTOP the whole worker: it does nothing at all until :meth:`resume`."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGCONT)

    def shutdown(self, timeout: float = 30) -> None:
        """A warm shutdown: SIGTERM to the main process alone, which lets the pool finish
        the tasks it is running (signalling the whole group would end them at once)."""
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def worker_process(transactional_db, celery_app) -> Iterator[Callable[..., WorkerProcess]]:
    """Start subprocess workers on PostgreSQL + Redis (the services run only).

    They consume their own queue, and the test's tasks are routed there, so a
    worker thread of this process cannot take their work. Each worker gets the
    ``WEBHOOKS`` settings in force in the test when it is started.
    """
    if not SERVICES:
        pytest.skip("needs DATABASE_URL and CELERY_BROKER_URL (the services run)")
    yield from _worker_processes(celery_app)


@pytest.fixture
def broker_worker_process(transactional_db, celery_app) -> Iterator[Callable[..., WorkerProcess]]:
    """:func:`worker_process` on any database, SQLite's file included: for tests that
    need only a broker other processes reach (``CELERY_BROKER_URL``, e.g. Redis)."""
    if not os.environ.get("CELERY_BROKER_URL"):
        pytest.skip("needs CELERY_BROKER_URL (a broker that a worker subprocess reaches)")
    yield from _worker_processes(celery_app)


def _worker_processes(celery_app) -> Iterator[Callable[..., WorkerProcess]]:
    celery_app.control.purge()
    started: list[WorkerProcess] = []
    routed = override_settings(WEBHOOKS={**settings.WEBHOOKS, "QUEUE": PROCESS_QUEUE})
    routed.enable()

    def start(**options) -> WorkerProcess:
        """``options``: :class:`WorkerProcess`'s ``env`` and ``output``."""
        worker = WorkerProcess(
            connection.settings_dict["NAME"], PROCESS_QUEUE, dict(settings.WEBHOOKS), **options
        ).start()
        started.append(worker)
        return worker.wait_ready(celery_app)

    yield start
    routed.disable()
    for worker in started:
        worker.stop()


def wait_until(predicate: Callable[[], object], timeout: float = 15, interval: float = 0.05):
    """Poll ``predicate`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture(scope="session")
def django_server(django_db_setup) -> Iterator[str]:
    """This project served by a threaded WSGI server on 127.0.0.1; yields its base URL.

    Unlike pytest-django's live_server, its listen backlog takes dozens of
    simultaneous connections, as the concurrency tests need.
    """
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    class Server(ThreadedWSGIServer):
        request_queue_size = 128

    httpd = Server(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    httpd.set_app(WSGIHandler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _is_loopback_host(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _loopback_only() -> Iterator[list]:
    """No test, and no worker thread, resolves a name or connects beyond loopback.

    Such a call fails as an unresolvable name or a refused connection would,
    and is recorded; the session then ends with an error naming it.
    """
    attempts: list = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback_host(host):
            attempts.append(("resolve", host))
            raise socket.gaierror(socket.EAI_NONAME, "tests resolve loopback names only")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback_host(address[0]):
            attempts.append(("connect", address))
            raise ConnectionRefusedError("tests connect to loopback only")
        return real_connect(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        patch.setattr(socket.socket, "connect", connect)
        yield attempts
    assert attempts == [], f"tests reached beyond loopback: {attempts}"


# --- a real browser (Debian's Chromium, driven by Playwright) ------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Chromium for one test module (the browser tests of the portal and the admin).

    Playwright's sync API runs an asyncio event loop in this thread, and Django
    refuses ORM calls from a thread with a running loop (SynchronousOnlyOperation).
    The test's own queries are plain synchronous code between Playwright calls, so
    the guard is lifted while the browser runs; the server and the worker run in
    threads of their own, without a loop.
    """
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield launched
            launched.close()
