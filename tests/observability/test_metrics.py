"""Prometheus metrics: the real client, real deliveries, the scrape view parsed.

The counters live in prometheus_client's default registry for the whole test
session, so tests compare a scrape after with a scrape before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from urllib.request import urlopen

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, Reply, wait_until
from tests.receivers import STANDARD_SECRET
from webhooks_app import checks, metrics, send_event
from webhooks_app.metrics import collector
from webhooks_app.models import Delivery, Endpoint, InboundEvent
from webhooks_app.sending import engine, fanout
from webhooks_app.testing import WebhookClient

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "scrape-token-0123456789"
SUCCEEDED = ("webhooks_deliveries_total", (("outcome", "succeeded"),))
RETRYING = ("webhooks_deliveries_total", (("outcome", "retrying"),))
DURATIONS = ("webhooks_attempt_duration_seconds_count", ())
LAG = ("webhooks_due_lag_seconds", ())


@pytest.fixture(autouse=True)
def _token(settings, monkeypatch, request):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "METRICS_TOKEN": TOKEN}
    if "celery_worker" in request.fixturenames:
        return
    # These tests run the engine themselves.
    request.getfixturevalue("no_wakeups")


def parse(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: Client | None = None, token: str = TOKEN) -> dict[tuple[str, tuple], float]:
    response = (client or Client()).get("/metrics/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


def test_the_view_wants_the_token_or_a_staff_session(settings):
    assert Client().get("/metrics/").status_code == 401
    wrong = Client().get("/metrics/", HTTP_AUTHORIZATION="Bearer not-the-token-at-all")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert Client().get("/metrics/", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    scrape()

    settings.WEBHOOKS = {**settings.WEBHOOKS, "METRICS_TOKEN": None}
    assert Client().get("/metrics/", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    user = Client()
    user.force_login(User.objects.create_user("someone"))
    assert user.get("/metrics/").status_code == 401
    staff = Client()
    staff.force_login(User.objects.create_user("ops", is_staff=True))
    assert staff.get("/metrics/").status_code == 200


def test_deliveries_move_the_counters_and_the_histogram(http_server, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_SCHEDULE": [60]}
    http_server.routes["/busy"] = Reply(status=503)
    Endpoint.objects.create(url=http_server.url("/ok"))
    Endpoint.objects.create(url=http_server.url("/busy"))
    before = scrape()
    send_event("order.paid", {})
    engine.run()
    after = scrape()

    def moved(key) -> float:
        return after[key] - before.get(key, 0)

    assert moved(SUCCEEDED) == 1
    assert moved(RETRYING) == 1
    assert moved(("webhooks_attempts_total", (("result", "2xx"),))) == 1
    assert moved(("webhooks_attempts_total", (("result", "5xx"),))) == 1
    assert moved(DURATIONS) == 2
    assert after[("webhooks_pending_deliveries", ())] == 1  # the retry


def test_inbound_events_are_counted_by_source_and_status():
    key = ("webhooks_inbound_events_total", (("source", "standard"), ("status", "processed")))
    duplicate = ("webhooks_inbound_events_total", (("source", "standard"), ("status", "duplicate")))
    before = scrape()
    for _ in range(2):
        response = WebhookClient().post_standard_webhooks(
            "/hooks/standard/", {"type": "x"}, secret=STANDARD_SECRET, msg_id="msg_metrics"
        )
        assert response.status_code == 200
    after = scrape()
    assert after[key] - before.get(key, 0) == 1
    assert after[duplicate] - before.get(duplicate, 0) == 1


def test_the_lag_gauge_is_the_age_of_the_oldest_due_unleased_delivery(http_server):
    Endpoint.objects.create(url=http_server.url())
    send_event("order.paid", {})
    fanout.expand_pending()
    assert scrape()[LAG] < 60  # due since it was made, a moment ago
    now = timezone.now()
    Delivery.objects.update(next_attempt_at=now - timedelta(seconds=600))
    assert 600 <= scrape()[LAG] < 3600

    Delivery.objects.update(locked_until=now + timedelta(seconds=60))  # a worker holds it
    assert scrape()[LAG] == 0
    Delivery.objects.update(locked_until=None, next_attempt_at=now + timedelta(seconds=60))
    assert scrape()[LAG] == 0  # not due yet
    assert scrape()[("webhooks_pending_deliveries", ())] == 1


def test_endpoint_and_inbound_gauges(http_server):
    Endpoint.objects.create(url=http_server.url("/a"), circuit_opened_at=timezone.now())
    Endpoint.objects.create(url=http_server.url("/b"), is_active=False)
    Endpoint.objects.create(url=http_server.url("/c"))
    for n, status in enumerate(["failed", "failed", "pending", "processed"]):
        InboundEvent.objects.create(source="s", event_id=str(n), payload={}, status=status)
    values = scrape()
    assert values[("webhooks_open_circuits", ())] == 1
    assert values[("webhooks_disabled_endpoints", ())] == 1
    assert values[("webhooks_unprocessed_inbound_events", (("status", "failed"),))] == 2
    assert values[("webhooks_unprocessed_inbound_events", (("status", "pending"),))] == 1
    assert ("webhooks_unprocessed_inbound_events", (("status", "processed"),)) not in values


def test_a_database_error_leaves_the_gauges_out_but_serves_the_counters(monkeypatch):
    def broken(now):
        raise DatabaseError("down")

    monkeypatch.setattr(collector, "read", broken)
    values = scrape()
    assert LAG not in values
    assert SUCCEEDED in values


def test_without_prometheus_client_nothing_breaks(http_server, monkeypatch):
    assert checks.check_metrics() == []
    monkeypatch.setattr(metrics, "prometheus_client", None)
    response = Client().get("/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 501
    assert b"pip install 'webhooks-app[metrics]'" in response.content
    (warning,) = checks.check_metrics()
    assert warning.id == "webhooks_app.W003"
    with pytest.raises(Exception, match="prometheus_client is not installed"):
        metrics.serve_worker_metrics(0)

    Endpoint.objects.create(url=http_server.url())
    send_event("order.paid", {})
    assert engine.run() == 1
    assert Delivery.objects.get().status == "succeeded"


def test_a_worker_serves_its_own_counters(http_server, celery_worker):
    server = metrics.serve_worker_metrics(0)
    try:
        port = server.server_address[1]

        def worker_scrape():
            with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                return parse(response.read().decode())

        before = worker_scrape()
        assert LAG not in before  # the database gauges are the web process's
        Endpoint.objects.create(url=http_server.url())
        send_event("order.paid", {})
        wait_until(lambda: Delivery.objects.filter(status="succeeded").exists())
        wait_until(lambda: worker_scrape()[SUCCEEDED] == before[SUCCEEDED] + 1)
    finally:
        server.shutdown()
        server.server_close()


def test_multiprocess_mode_merges_the_counts_of_child_processes(tmp_path):
    """A prefork pool counts in its children; the multiprocess directory carries them."""
    script = textwrap.dedent(
        """
        import multiprocessing

        import django

        django.setup()
        from prometheus_client import generate_latest

        from webhooks_app import metrics
        from webhooks_app.observability import metrics as counters

        def child():
            counters.count_inbound("forked", "processed")

        for _ in range(2):
            process = multiprocessing.get_context("fork").Process(target=child)
            process.start()
            process.join()
        print(generate_latest(metrics.process_registry()).decode())
        """
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    values = parse(done.stdout)
    key = ("webhooks_inbound_events_total", (("source", "forked"), ("status", "processed")))
    assert values[key] == 2


def test_register_collector_adds_the_gauges_to_a_registry_once(http_server):
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    assert b"webhooks_pending_deliveries" not in generate_latest(registry)
    Endpoint.objects.create(url=http_server.url())
    send_event("order.paid", {})
    fanout.expand_pending()
    metrics.register_collector(registry)
    metrics.register_collector(registry)  # a second call changes nothing (and raises nothing)
    values = parse(generate_latest(registry).decode())
    assert values[("webhooks_pending_deliveries", ())] == 1
    assert SUCCEEDED not in values  # the counters stay in the default registry


def test_registering_the_collector_queries_nothing(django_assert_num_queries):
    from prometheus_client import CollectorRegistry

    with django_assert_num_queries(0):
        metrics.register_collector(CollectorRegistry())  # as in AppConfig.ready()


def test_the_view_is_open_to_the_token_under_login_required_middleware(settings):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    assert Client().get("/metrics/").status_code == 401  # its own answer, not a redirect
    scrape()


def ended_pid() -> int:
    """The id of a process that has ended (and, so soon after, not been reused)."""
    done = subprocess.run(["true"], check=True)
    assert done.returncode == 0
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def child_pids(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def test_a_prefork_workers_counts_reach_the_web_processs_scrape(
    http_server, broker_worker_process, tmp_path, monkeypatch
):
    """The worker's side of multiprocess mode comes with the app: nothing to copy."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    # A previous run's counts, of a process that has ended: removed when the worker starts.
    stale = tmp_path / f"counter_{ended_pid()}.db"
    counts = MmapedDict(str(stale))
    name = "webhooks_deliveries_total"
    counts.write_value(mmap_key(name, name, ["outcome"], ["succeeded"], "stale"), 41.0, 0.0)
    counts.close()

    worker = broker_worker_process()  # prefork, two children
    assert not stale.exists()
    Endpoint.objects.create(url=http_server.url())
    send_event("order.paid", {})
    wait_until(lambda: Delivery.objects.filter(status="succeeded").exists(), timeout=30)
    wait_until(lambda: scrape().get(SUCCEEDED) == 1)  # the worker's, summed by the web view

    # A pool child that ends is marked dead: its live gauges leave the sums.
    children = child_pids(worker.process.pid)
    assert len(children) == 2
    live = [tmp_path / f"gauge_livesum_{pid}.db" for pid in children]
    for path in live:
        MmapedDict(str(path)).close()
    worker.shutdown()
    assert [path for path in live if path.exists()] == []
    assert scrape().get(SUCCEEDED) == 1  # counters stay counted
