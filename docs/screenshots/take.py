"""Screenshots of the admin and the customer portal in docs/screenshots/, taken in a real browser.

    .venv/bin/pip install -e ".[test]" playwright
    apt-get install chromium          # Debian's; Playwright drives it, it downloads nothing
    .venv/bin/python docs/screenshots/take.py [--out DIR] [--suffix -django61]

``--suffix`` is added to each file name (the admin on another Django version, say);
``--out`` writes somewhere else than docs/screenshots/.

The test project (tests/settings.py, plus static files) runs on a scratch SQLite
database and a server on 127.0.0.1; the data shows what an operator meets: a
credential in an endpoint's URL and headers (masked), a failing delivery with
its attempts, an inbound event; in the portal, the endpoints of one tenant
("acme"), opened through a portal link as its customer would. Pages are 1400 px wide.
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
SUFFIX = ""
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
    values["WEBHOOKS"] = {
        "ALLOWED_NETWORKS": ["127.0.0.0/8"],
        "TENANT_LABEL": "tests.tenants.tenant_name",  # "acme" listed as "Acme Inc."
    }
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


def portal_sample_data() -> None:
    """A tenant's endpoints: one healthy with a credential in its URL, one disabled, one whose
    circuit opened after six 503s; a delivery that failed, was retried and succeeded, one that
    timed out twice, one waiting for the circuit."""
    from datetime import timedelta

    from django.utils import timezone

    from webhooks_app import event_types
    from webhooks_app.models import Attempt, Delivery, Endpoint, Event

    order = {
        "type": "object",
        "properties": {
            "order_id": {"type": "integer"},
            "amount": {"type": "string", "pattern": "^[0-9]+[.][0-9]{2}$"},
            "currency": {"type": "string", "minLength": 3, "maxLength": 3},
        },
        "required": ["order_id", "amount", "currency"],
    }
    example = {"order_id": 1042, "amount": "99.00", "currency": "EUR"}
    event_types.register(
        "order.paid", description="An order was paid in full.", schema=order, example=example
    )
    event_types.register(
        "order.refunded",
        description="An order was refunded, in part or in full.",
        schema=order,
        example=example,
    )
    event_types.register(
        "order.updated",
        description="Anything about an order changed. Use order.paid and order.refunded.",
        example={"order_id": 1042},
        deprecated=True,
    )
    now = timezone.now()
    orders = Endpoint.objects.create(
        url="https://hooks.acme.example/webhooks/orders?key=ak_live_88",
        description="Order sync",
        event_types=["order.paid", "order.refunded"],
        tenant="acme",
    )
    Endpoint.objects.create(
        url="https://crm.acme.example/incoming",
        description="CRM",
        event_types=["order.updated"],
        tenant="acme",
        is_active=False,
        disabled_reason="Disabled in the portal",
        disabled_at=now,
    )
    Endpoint.objects.create(url="https://globex.example/hooks", tenant="globex")  # not shown
    # After six 503s: the circuit open, a delivery whose own time has passed waits for it.
    invoices = Endpoint.objects.create(
        url="https://billing.acme.example/invoices",
        description="Invoices",
        event_types=["order.paid"],
        headers={"Authorization": "Bearer sk_live_acme_42", "X-Region": "eu-west"},
        tenant="acme",
        failure_streak=6,
        failing_since=now - timedelta(minutes=3),
        circuit_failures=6,
        circuit_opened_at=now - timedelta(seconds=5),
        paused_until=now + timedelta(seconds=25),
    )
    event = Event.objects.create(
        event_type="order.paid",
        tenant="acme",
        payload={"order_id": 1101, "amount": "42.00", "currency": "EUR"},
        created_at=now - timedelta(minutes=3),
    )
    waiting = Delivery.objects.create(
        event=event,
        endpoint=invoices,
        attempt_count=1,
        next_attempt_at=now - timedelta(seconds=20),
        last_status_code=503,
        last_error="HTTP 503",
        created_at=event.created_at,
    )
    Attempt.objects.create(
        delivery=waiting,
        number=1,
        status_code=503,
        error="HTTP 503",
        duration_ms=88,
        response_body="upstream unavailable",
        created_at=event.created_at,
    )
    history = [
        # (event type, minutes ago, final status, [(status, error type, error, ms, body)])
        ("order.paid", 3, "succeeded", [(200, "", "", 38, '{"received": true}')]),
        (
            "order.refunded",
            42,
            "succeeded",
            [
                (503, "", "HTTP 503", 121, "<html><body>Service Unavailable</body></html>"),
                (200, "", "", 45, '{"received": true}'),
            ],
        ),
        (
            "order.paid",
            95,
            "failed",
            [
                (None, "timeout", "Read timed out after 15 s", 15000, ""),
                (None, "timeout", "Read timed out after 15 s", 15000, ""),
            ],
        ),
    ]
    for event_type, minutes, status, attempts in history:
        created = now - timedelta(minutes=minutes)
        event = Event.objects.create(
            event_type=event_type,
            tenant="acme",
            payload={"order_id": 1042 + minutes, "amount": "99.00", "currency": "EUR"},
            created_at=created,
        )
        delivery = Delivery.objects.create(
            event=event,
            endpoint=orders,
            status=status,
            attempt_count=len(attempts),
            last_status_code=attempts[-1][0],
            last_error=attempts[-1][2],
            created_at=created,
            finished_at=created + timedelta(minutes=1),
        )
        for number, (code, error_type, error, ms, body) in enumerate(attempts, start=1):
            Attempt.objects.create(
                delivery=delivery,
                number=number,
                status_code=code,
                error_type=error_type,
                error=error,
                duration_ms=ms,
                response_body=body,
                trigger="manual" if number > 1 and code == 200 else "scheduled",
                created_at=created + timedelta(seconds=30 * (number - 1)),
            )


def portal_pages() -> dict[str, str]:
    """The portal's pages to take (read before Playwright starts its event loop, which
    Django's ORM refuses to run beside)."""
    from webhooks_app.models import Delivery, Endpoint

    orders = Endpoint.objects.get(description="Order sync")
    invoices = Endpoint.objects.get(description="Invoices")
    retried = Delivery.objects.get(event__event_type="order.refunded")
    waiting = Delivery.objects.get(endpoint=invoices)
    return {
        "portal-endpoints": "/portal/",
        "portal-endpoint": f"/portal/endpoints/{orders.pk}/",
        "portal-endpoint-circuit-open": f"/portal/endpoints/{invoices.pk}/",
        "portal-delivery": f"/portal/deliveries/{retried.pk}/",
        "portal-delivery-waiting": f"/portal/deliveries/{waiting.pk}/",
        "portal-endpoint-add": "/portal/endpoints/add/",
        "portal-event-types": "/portal/event-types/",
    }


def portal_shots(browser, base: str, pages: dict[str, str]) -> None:
    """The portal's pages, as the tenant "acme" sees them through a portal link."""
    from webhooks_app.portal import portal_link

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(base + portal_link("acme"))
    for name, path in pages.items():
        page.goto(base + path)
        page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
        print(f"{name}.png  {path}  (portal, as acme)")
        if name == "portal-endpoint":  # its statistics, close up
            page.locator(".wp-card:has(.webhooks-stats)").screenshot(
                path=str(OUT / "portal-endpoint-stats.png")
            )
            print(f"portal-endpoint-stats.png  {path}, the statistics  (portal, as acme)")
    # A link for another tenant, opened in acme's session: it asks before switching.
    page.goto(base + portal_link("globex"))
    page.screenshot(path=str(OUT / "portal-enter-confirm.png"), full_page=True)
    print("portal-enter-confirm.png  a link for globex  (portal, as acme)")
    # "All event types" together with types picked: refused, not saved as every type.
    page.goto(base + pages["portal-endpoint-add"])
    page.get_by_label("URL").fill("https://billing.acme.example/webhooks")
    page.get_by_label("order.paid").check()
    page.get_by_role("button", name="Add the endpoint").click()
    page.screenshot(path=str(OUT / "portal-endpoint-add-refused.png"), full_page=True)
    print("portal-endpoint-add-refused.png  all types and some types  (portal, as acme)")
    # Adding an endpoint: its secret is shown once, on the page the form leads to.
    page.goto(base + pages["portal-endpoint-add"])
    page.get_by_label("URL").fill("https://billing.acme.example/webhooks")
    page.get_by_label("Description").fill("Billing")
    page.get_by_label("All event types").uncheck()
    page.get_by_label("order.paid").check()
    page.get_by_role("button", name="Add the endpoint").click()
    page.wait_for_selector("#wp-secret-value")
    page.screenshot(path=str(OUT / "portal-secret-once.png"), full_page=True)
    print("portal-secret-once.png  after adding an endpoint  (portal, as acme)")
    context.close()


def admin_button_shots(browser, base: str, change: str) -> None:
    """The endpoint change page's buttons and form in the dark scheme too, and the page
    that asks to confirm a secret's rotation (reached by its button, a POST)."""
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme=scheme)
        page = context.new_page()
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        if scheme == "dark":
            page.goto(base + change)
            name = f"admin-endpoint-change-dark{SUFFIX}.png"
            page.screenshot(path=str(OUT / name), full_page=True)
            print(f"{name}  {change}  (as admin, dark scheme)")
        page.goto(base + change)
        page.locator(".object-tools").get_by_role("button", name="Rotate the secret").click()
        page.wait_for_selector("input[name=confirm]", state="attached")
        name = f"admin-endpoint-rotate-confirm{'-dark' if scheme == 'dark' else ''}{SUFFIX}.png"
        page.screenshot(path=str(OUT / name), full_page=True)
        print(f"{name}  after the change page's Rotate the secret button  (as admin, {scheme})")
        context.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        configure(Path(scratch) / "screenshots.sqlite3")
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.management import call_command
        from django.core.wsgi import get_wsgi_application

        call_command("migrate", verbosity=0)
        sample_data()
        portal_sample_data()
        server = make_server(
            "127.0.0.1", 0, StaticFilesHandler(get_wsgi_application()), handler_class=QuietHandler
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        from webhooks_app.models import Delivery, Endpoint

        shop = Endpoint.objects.get(description="Shop backend")
        failing = Delivery.objects.get(status=Delivery.Status.PENDING, endpoint=shop)
        pages = {
            "admin-endpoint-list": "/admin/webhooks_app/endpoint/",
            "admin-endpoint-change": f"/admin/webhooks_app/endpoint/{shop.pk}/change/",
            "admin-delivery-list": "/admin/webhooks_app/delivery/",
            "admin-delivery-change": f"/admin/webhooks_app/delivery/{failing.pk}/change/",
            "admin-inbound-event-list": "/admin/webhooks_app/inboundevent/",
            "admin-event-list": "/admin/webhooks_app/event/",
            "admin-endpoint-secret": f"/admin/webhooks_app/endpoint/{shop.pk}/secret/",
            "admin-endpoint-send-example": (
                f"/admin/webhooks_app/endpoint/{shop.pk}/send-example/"
            ),
        }
        portal = portal_pages()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                ],
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
                    page.screenshot(path=str(OUT / f"{name}{SUFFIX}.png"), full_page=True)
                    print(f"{name}{SUFFIX}.png  {path}  (as {user})")
                context.close()
            admin_button_shots(browser, base, pages["admin-endpoint-change"])
            portal_shots(browser, base, portal)
            browser.close()
        server.shutdown()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNG files")
    parser.add_argument("--suffix", default="", help="added to each file name")
    options = parser.parse_args()
    OUT, SUFFIX = options.out, options.suffix
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    main()
