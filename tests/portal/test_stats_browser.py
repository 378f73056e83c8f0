"""An endpoint's statistics in a real browser (Debian's Chromium, see test_browser.py):
the portal's endpoint page and the admin's change page, in light and dark colour schemes.

Screenshots of the statistics are saved to /tmp/webhooks-stats-*.png to be looked at.
The portal has no dark theme of its own: a project sets one with the portal's CSS
variables (docs/portal.md), as ``PORTAL_DARK`` does here; the admin has Django's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from playwright.sync_api import Browser, Page, expect

from tests.conftest import CHROMIUM
from tests.portal.test_stats import tries
from webhooks_app.models import Endpoint
from webhooks_app.observability.stats import endpoint_stats
from webhooks_app.portal import portal_link

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]

SCREENSHOTS = Path("/tmp")
PASSWORD = "stats-browser"
PORTAL_DARK = """@media (prefers-color-scheme: dark) { :root {
  --webhooks-bg: #15181e; --webhooks-surface: #1d2129; --webhooks-text: #e6e8ec;
  --webhooks-muted: #9aa3b2; --webhooks-border: #343a46; --webhooks-accent: #8ea4ff;
  --webhooks-ok: #5cc275; --webhooks-bad: #f07070; --webhooks-warn: #e0a82e; } }"""


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server(django_db_setup) -> Iterator[str]:
    """The project with its static files (the admin's styles and themes), on 127.0.0.1."""
    httpd = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    httpd.set_app(StaticFilesHandler(WSGIHandler()))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def endpoint(transactional_db) -> Endpoint:
    endpoint = Endpoint.objects.create(
        url="https://hooks.acme.example/orders", tenant="acme", description="Order sync"
    )
    for hours_ago, codes in enumerate(
        [(200,) * 9, (200,) * 12 + (503,), (200,) * 7, (), (200,) * 4 + (None, None), (200,) * 15]
        + [(200,) * (n % 5 + 2) + (500,) * (n % 3 == 0) for n in range(17)]
    ):  # up to 22 hours ago, and up to 5 days: inside the windows, should the hour turn
        tries(endpoint, *codes, hours_ago=hours_ago)
    for days_ago in range(2, 6):
        tries(endpoint, *(200,) * (10 * days_ago), 404, hours_ago=24 * days_ago)
    other = Endpoint.objects.create(url="https://globex.example/hook", tenant="globex")
    tries(other, *(500,) * 40)
    return endpoint


@pytest.fixture(params=["light", "dark"])
def scheme(request) -> str:
    return request.param


@pytest.fixture
def page(browser: Browser, scheme: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    yield context.new_page()
    context.close()


def luminance(page: Page, selector: str, prop: str) -> float:
    """The relative lightness (0 to 1) of a computed colour of the first match."""
    rgb = page.locator(selector).first.evaluate(
        f"e => getComputedStyle(e).{prop}.match(/\\d+/g).slice(0, 3).map(Number)"
    )
    return sum(channel / 255 for channel in rgb) / 3


def check_chart(page: Page, scheme: str, endpoint: Endpoint) -> None:
    stats = endpoint_stats(endpoint)
    succeeded, failed = stats.status_classes["2xx"], stats.tries - stats.status_classes["2xx"]
    hourly = page.get_by_role("img", name="Tries per hour, last 24 hours")
    daily = page.get_by_role("img", name="Tries per day, last 7 days")
    expect(hourly).to_be_visible()
    expect(daily).to_be_visible()
    expect(hourly.locator("desc")).to_have_text(
        f"{stats.tries} tries: {succeeded} succeeded, 0 retrying, {failed} failed."
    )
    segments = sum(bool(b.succeeded) + bool(b.failed) for b in stats.hourly)
    expect(hourly.locator("rect:has(title)")).to_have_count(segments)
    expect(page.locator(".webhooks-stats-figures")).to_contain_text(
        f"{100 * stats.success_rate:.1f} %"
    )
    # Text in the page's colour: dark on light, light on dark.
    text = luminance(page, ".webhooks-chart text", "fill")
    assert (text > 0.6) if scheme == "dark" else (text < 0.4), text
    # Bars in colour, neither black nor the background.
    assert 0.15 < luminance(page, ".webhooks-chart rect[style]", "fill") < 0.85


def test_the_portal_shows_the_charts(page, server, endpoint, scheme):
    page.goto(server + portal_link("acme"))
    page.goto(f"{server}/portal/endpoints/{endpoint.pk}/")
    page.add_style_tag(content=PORTAL_DARK)
    expect(page.get_by_role("heading", name="Statistics")).to_be_visible()
    check_chart(page, scheme, endpoint)
    page.locator(".wp-card:has(.webhooks-stats)").screenshot(
        path=SCREENSHOTS / f"webhooks-stats-portal-{scheme}.png"
    )
    page.screenshot(path=SCREENSHOTS / f"webhooks-stats-portal-page-{scheme}.png", full_page=True)


def test_the_admin_shows_the_charts(page, server, endpoint, django_user_model, scheme):
    django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    page.goto(f"{server}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{server}/admin/webhooks_app/endpoint/{endpoint.pk}/change/")
    check_chart(page, scheme, endpoint)
    page.locator(".form-row:has(.webhooks-stats)").screenshot(
        path=SCREENSHOTS / f"webhooks-stats-admin-{scheme}.png"
    )
    page.screenshot(path=SCREENSHOTS / f"webhooks-stats-admin-page-{scheme}.png", full_page=True)
