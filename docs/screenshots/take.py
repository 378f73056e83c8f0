"""Screenshots of the admin pages in docs/screenshots/, taken in a real browser.

    .venv/bin/pip install -e ".[test]" playwright
    apt-get install chromium          # Debian's; Playwright drives it, it downloads nothing
    .venv/bin/python docs/screenshots/take.py

The test project (tests/settings.py, plus static files) runs on a scratch SQLite
database and a server on 127.0.0.1; the data shows what an operator meets: a
credential in an endpoint's URL and headers (masked), a failing delivery with
its attempts, an inbound event. Pages are 1400 px wide.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "screenshots"  # noqa: S105 - a throwaway database's users
sys.path.insert(0, str(ROOT))


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def configure(database: Path) -> None:
    import django
    from django.conf import settings

    from tests import settings as test_settings

    values = {name: getattr(test_settings, name) for name in dir(test_settings) if name.isupper()}
    values["INSTALLED_APPS"] = [*values["INSTALLED_APPS"], "django.contrib.staticfiles"]
    values["DATABASES"] = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}
    }
    values["WEBHOOKS"] = {"ALLOWED_NETWORKS": ["127.0.0.0/8"]}
    values["DEBUG"] = False
    settings.configure(**values)
    django.setup()


def sample_data() -> None:
    from datetime import timedelta

    from django.contrib.auth.models import Permission, User
    from django.utils import timezone

    from webhooks_app.models import Attempt, Delivery, Endpoint, Event, InboundEvent

    User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    operator = User.objects.create_user("operator", password=PASSWORD, is_staff=True)
    operator.user_permissions.set(  # everything but revealing secrets
        Permission.objects.filter(content_type__app_label="webhooks_app").exclude(
            codename="view_endpoint_secret"
        )
    )
    now = timezone.now()
    shop = Endpoint.objects.create(
        url="https://hooks:s3cr3t@shop.example.com/webhooks?token=abc123",
        description="Shop backend",
        event_types=["order.*"],
        headers={"Authorization": "Bearer sk_live_1234", "X-Tenant": "acme"},
    )
    Endpoint.objects.create(
        url="https://crm.example.com/hooks/incoming", description="CRM", event_types=[]
    )
    for n in range(3):
        event = Event.objects.create(event_type="order.paid", payload={"order": 1000 + n})
        delivery = Delivery.objects.create(
            event=event,
            endpoint=shop,
            status=Delivery.Status.SUCCEEDED if n else Delivery.Status.PENDING,
            attempt_count=2 if n == 0 else 1,
            next_attempt_at=now + timedelta(seconds=30) if n == 0 else None,
            last_status_code=None if n == 0 else 200,
            last_error="" if n else "The request's deadline passed before it was sent",
            finished_at=None if n == 0 else now,
        )
        if n == 0:
            Attempt.objects.create(
                delivery=delivery,
                number=1,
                status_code=503,
                error="HTTP 503",
                duration_ms=41,
                response_body="upstream unavailable",
                created_at=now - timedelta(seconds=31),
            )
            Attempt.objects.create(
                delivery=delivery,
                number=2,
                error_type="not_sent",
                error="The request's deadline passed before it was sent (the worker was stalled)",
                created_at=now - timedelta(seconds=1),
            )
        else:
            Attempt.objects.create(
                delivery=delivery, number=1, status_code=200, duration_ms=12, response_body="ok"
            )
    InboundEvent.objects.create(
        source="stripe",
        event_id="evt_1Q2w3E4r",
        event_type="invoice.paid",
        payload={"id": "evt_1Q2w3E4r"},
        headers={"Content-Type": "application/json", "X-Request-Id": "req_81"},
        status=InboundEvent.Status.PROCESSED,
        processed_at=now,
    )


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        configure(Path(scratch) / "screenshots.sqlite3")
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.management import call_command
        from django.core.wsgi import get_wsgi_application

        call_command("migrate", verbosity=0)
        sample_data()
        server = make_server(
            "127.0.0.1", 0, StaticFilesHandler(get_wsgi_application()), handler_class=QuietHandler
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        from webhooks_app.models import Delivery, Endpoint

        shop = Endpoint.objects.get(description="Shop backend")
        failing = Delivery.objects.get(status=Delivery.Status.PENDING)
        pages = {
            "admin-endpoint-list": "/admin/webhooks_app/endpoint/",
            "admin-endpoint-change": f"/admin/webhooks_app/endpoint/{shop.pk}/change/",
            "admin-delivery-list": "/admin/webhooks_app/delivery/",
            "admin-delivery-change": f"/admin/webhooks_app/delivery/{failing.pk}/change/",
            "admin-inbound-event-list": "/admin/webhooks_app/inboundevent/",
        }
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            shots = [("admin", name, path) for name, path in pages.items()]
            # Staff without webhooks_app.view_endpoint_secret: credentials masked.
            masked = ("operator", "admin-endpoint-change-masked", pages["admin-endpoint-change"])
            shots.append(masked)
            for user in ("admin", "operator"):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(f"{base}/admin/login/")
                page.fill("#id_username", user)
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                for _, name, path in (shot for shot in shots if shot[0] == user):
                    page.goto(base + path)
                    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                    print(f"{name}.png  {path}  (as {user})")
                context.close()
            browser.close()
        server.shutdown()


if __name__ == "__main__":
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    main()
