"""Credentials stay out of logs, the admin's history and command output."""

from __future__ import annotations

import logging
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.urls import reverse

from tests.conftest import Reply
from webhooks_app.models import Endpoint

pytestmark = pytest.mark.django_db

TOKEN = "query-token-value"
PASSWORD = "url-password-value"


def test_a_disabled_endpoints_log_line_masks_tokens(caplog):
    endpoint = Endpoint.objects.create(url=f"http://127.0.0.1:9/in?token={TOKEN}")
    with caplog.at_level(logging.WARNING, logger="webhooks_app"):
        endpoint.disable(f"Gone: http://127.0.0.1:9/in?token={TOKEN}")
    assert "Gone" in caplog.text and TOKEN not in caplog.text


def test_the_admin_history_keeps_no_password(admin_client):
    endpoint = Endpoint.objects.create(url=f"https://user:{PASSWORD}@hooks.example.com/in")
    change = reverse("admin:webhooks_app_endpoint_change", args=[endpoint.pk])
    form = {"url": endpoint.url, "description": "x", "all_types": "on"}
    assert admin_client.post(change, {**form, "is_active": "on"}).status_code == 302
    entry = LogEntry.objects.get()
    assert PASSWORD not in entry.object_repr and "hooks.example.com" in entry.object_repr
    assert str(endpoint) == "https://user:********@hooks.example.com/in"


@pytest.mark.parametrize("queue", [False, True], ids=["now", "queued"])
def test_send_test_prints_no_credentials(http_server, queue):
    http_server.reply(Reply(status=500))
    url = http_server.url(f"/in?token={TOKEN}").replace("http://", f"http://user:{PASSWORD}@")
    endpoint = Endpoint.objects.create(url=url)
    out, err = StringIO(), StringIO()
    try:
        call_command(
            "webhooks_send_test",
            str(endpoint.pk),
            *(["--queue"] if queue else []),
            stdout=out,
            stderr=err,
        )
    except Exception as exc:  # a failed test delivery is a CommandError
        err.write(str(exc))
    printed = out.getvalue() + err.getvalue()
    assert "127.0.0.1" in printed or "Queued" in printed
    assert TOKEN not in printed and PASSWORD not in printed
