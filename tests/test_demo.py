"""The README's demo, end to end: example_project/demo.py run non-interactively.

The demo runs as a subprocess on its embedded defaults (SQLite in
example_project/db.sqlite3, kombu's filesystem broker, its own dev server and
Celery worker on free ports of 127.0.0.1), so it shares nothing with this test
session's database or broker. Its output must show the whole story, and its
database must agree with what it printed. Every process it started must be
gone afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "example_project" / "demo.py"
DATABASE = ROOT / "example_project" / "db.sqlite3"
TIMEOUT = 180  # seconds for the whole demo (it usually takes about 10)

pytestmark = pytest.mark.timeout(TIMEOUT + 60)

RESULT = re.compile(
    r"^OK: (?P<delivered>\d+)/(?P<total>\d+) webhooks delivered and processed exactly once;"
    r" (?P<retries>\d+) retries, (?P<errors>\d+) handler errors,"
    r" (?P<suppressed>\d+) duplicates suppressed at the receiver",
    re.MULTILINE,
)
ADMIN = re.compile(
    r"^  Admin: http://127\.0\.0\.1:(?P<port>\d+)/admin/\s+username: (?P<username>\S+)"
    r"\s+password: (?P<password>\S+)$",
    re.MULTILINE,
)


@dataclass
class Run:
    returncode: int
    output: str


def processes_with(variable: bytes) -> list[int]:
    """Live processes whose environment holds ``variable`` (NAME=value); Linux only."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()  # empty for a zombie
        except OSError:
            continue
        if variable in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Run]:
    # Every process the demo starts inherits this variable: the ones left behind are found.
    marker = f"WEBHOOKS_DEMO_TEST_RUN={uuid.uuid4().hex}"
    env = {
        name: value
        for name, value in os.environ.items()
        # The demo's own defaults, never this session's settings, database or broker.
        if name not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "CI")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    name, value = marker.split("=")
    env[name] = value

    process = subprocess.Popen(
        [sys.executable, str(DEMO)],
        cwd=tmp_path_factory.mktemp("demo"),  # "run it from anywhere"
        env=env,
        stdin=subprocess.DEVNULL,  # not interactive: it must stop by itself
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    leftovers: list[int] = []
    try:
        try:
            output, _ = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)  # the demo stops its server and worker
            try:
                output, _ = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
            pytest.fail(f"The demo did not finish within {TIMEOUT} s:\n{output}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if Path("/proc/self/environ").exists():
            leftovers = processes_with(marker.encode())
            for pid in leftovers:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"the demo left processes behind: {leftovers}\n{output}"
    yield Run(process.returncode, output)


def test_exits_0_when_every_webhook_was_delivered_and_processed_once(demo):
    assert demo.returncode == 0, demo.output
    result = RESULT.search(demo.output)
    assert result, demo.output
    # 6 orders to two receivers, plus 3 merchants' orders to their own endpoint alone.
    assert int(result["delivered"]) == int(result["total"]) == 15
    assert int(result["retries"]) >= 1
    assert int(result["errors"]) >= 1
    assert int(result["suppressed"]) >= 1


def test_shows_live_progress(demo):
    output = demo.output
    # One line per attempt, as the worker records it, with the receiver's answer.
    assert re.search(r"order #\d+\s+-> shop\s+try 1: 200 processed\s+delivered", output)
    assert re.search(r"order #\d+\s+-> shop@acme\s+try 1: 200 processed\s+delivered", output)
    assert re.search(r"order #\d+\s+-> shop@globex\s+try 1: 200 processed\s+delivered", output)
    assert re.search(r"-> flaky\s+try 1: 500 handler error: rolled back.*retry scheduled", output)
    assert re.search(r"-> flaky\s+try 1: 503 processed, answered 503 on purpose", output)
    assert re.search(r"-> flaky\s+try 2: 200 processed\s+delivered", output)
    assert re.search(r"-> flaky\s+try 2: 200 duplicate: already processed, nothing run", output)
    # Progress lines, ending with everything delivered.
    progress = re.findall(
        r"\] (\d+)/15 delivered, (\d+) retrying, \d+ queued or in flight, (\d+) failed;"
        r" duplicates suppressed at the receiver: (\d+)",
        output,
    )
    assert progress, output
    assert any(int(retrying) for _, retrying, _, _ in progress)
    assert progress[-1][0] == "15" and progress[-1][2] == "0" and int(progress[-1][3]) >= 1
    # The transactional outbox: a rolled-back order sends nothing; a repeated key, no copy.
    assert "an order for Mallory rolled back (payment declined): no event, nothing sent" in output
    assert "the same event came back, no new deliveries" in output


def test_prints_admin_credentials_and_checks_the_api(demo):
    admin = ADMIN.search(demo.output)
    assert admin, demo.output
    assert admin["username"] == "admin"
    assert len(admin["password"]) >= 12
    base = f"http://127.0.0.1:{admin['port']}"
    assert f"  API:   {base}/api/webhooks/" in demo.output
    assert "checked: GET /admin/login/ -> 200" in demo.output
    assert re.search(
        r"checked: GET /api/webhooks/deliveries/ without credentials -> 40[13]", demo.output
    )
    checks = re.findall(
        r"checked: GET /api/webhooks/deliveries/\?endpoint=\d+&status=succeeded as admin"
        r" -> 200, 6 deliveries",
        demo.output,
    )
    assert len(checks) == 2, demo.output
    merchants = re.findall(
        r"checked: GET /api/webhooks/deliveries/\?endpoint=\d+&status=succeeded as admin"
        r" -> 200, ([12]) deliveries",
        demo.output,
    )
    assert sorted(merchants) == ["1", "2"], demo.output  # globex's one order, acme's two
    # A merchant's portal link opens its own endpoints, and no other's.
    assert re.search(r"  Portal: http://127\.0\.0\.1:\d+/portal/enter/\S+/", demo.output)
    assert (
        "checked: GET the portal link -> 200, acme's endpoints page: its 1 endpoint listed,"
        " the other 3 hidden" in demo.output
    ), demo.output
    assert "Not interactive" in demo.output
    assert "stopped the worker" in demo.output and "stopped the server" in demo.output


def test_the_database_agrees_with_the_output(demo):
    """What the demo printed is what its database holds: one notification per webhook
    and receiver, every inbound event processed, the suppressed copies counted."""
    with sqlite3.connect(DATABASE) as db:
        notifications = db.execute(
            "SELECT source, webhook_id, COUNT(*) FROM shop_ordernotification"
            " GROUP BY source, webhook_id"
        ).fetchall()
        inbound = db.execute(
            "SELECT source, status, duplicate_count, processing_attempts"
            " FROM webhooks_app_inboundevent"
        ).fetchall()
        deliveries = db.execute("SELECT status FROM webhooks_app_delivery").fetchall()
        orders = db.execute("SELECT customer FROM shop_order").fetchall()
        merchants = db.execute(
            "SELECT e.tenant, d.tenant FROM webhooks_app_delivery AS x"
            " JOIN webhooks_app_event AS e ON e.id = x.event_id"
            " JOIN webhooks_app_endpoint AS d ON d.id = x.endpoint_id"
            " WHERE d.tenant != ''"
        ).fetchall()
    assert sorted(merchants) == [("acme", "acme")] * 2 + [("globex", "globex")]
    assert len(notifications) == 15
    assert {count for _, _, count in notifications} == {1}
    assert {source for source, _, _ in notifications} == {"shop", "flaky"}
    assert len(inbound) == 15
    assert {status for _, status, _, _ in inbound} == {"processed"}
    suppressed = sum(1 + duplicates - runs for _, _, duplicates, runs in inbound)
    assert suppressed == int(RESULT.search(demo.output)["suppressed"]) >= 1
    assert [status for (status,) in deliveries] == ["succeeded"] * 15
    assert ("Mallory",) not in orders
