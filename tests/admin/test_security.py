"""The admin's part of the security review: who may reveal secrets and act, one validation
path for the endpoint form, credentials masked, and rows that the form could not have saved
(written by ``.update()``) that still list and send."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.db.models.signals import pre_save
from django.urls import reverse
from django.utils import timezone

from tests.admin.test_admin import change, changelist, header_rows, make_delivery, run_action
from webhooks_app import redaction
from webhooks_app.admin.display import mask_secret
from webhooks_app.models import Attempt, Delivery, Endpoint

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/in"
ADD = "admin:webhooks_app_endpoint_add"


def staff_client(client, *codenames: str):
    user = User.objects.create_user(f"staff{User.objects.count()}", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="webhooks_app", codename__in=codenames)
    )
    client.force_login(user)
    return client


def secret_url(endpoint: Endpoint) -> str:
    return reverse("admin:webhooks_app_endpoint_secret", args=[endpoint.pk])


def form_data(endpoint: Endpoint | None = None, **fields) -> dict:
    """The endpoint form as the admin posts it."""
    data = {
        "url": URL,
        "description": "",
        "secret": "",
        "all_types": "on",
        "rate_limit": "",
        "is_active": "on",
    }
    if endpoint is not None:
        data.update(url=endpoint.url)
    headers = fields.pop("headers", {})
    data.update(fields, **header_rows(headers))
    return {k: v for k, v in data.items() if v is not None}


# --- revealing the secret: its own permission ------------------------------------------


def test_change_permission_alone_does_not_reveal_the_secret(client):
    endpoint = Endpoint.objects.create(url=URL)
    editor = staff_client(client, "view_endpoint", "change_endpoint")

    page = editor.get(change(endpoint)).content.decode()
    assert mask_secret(endpoint.secret) in page and endpoint.secret not in page
    assert secret_url(endpoint) not in page
    assert editor.get(secret_url(endpoint)).status_code == 403
    assert not LogEntry.objects.exists()


def test_the_secret_permission_reveals_without_change_permission(client):
    endpoint = Endpoint.objects.create(url=URL)
    reader = staff_client(client, "view_endpoint", "view_endpoint_secret")

    assert secret_url(endpoint) in reader.get(change(endpoint)).content.decode()
    response = reader.get(secret_url(endpoint))
    assert response.status_code == 200 and endpoint.secret in response.content.decode()
    assert "Revealed" in LogEntry.objects.get().get_change_message()


def test_the_secret_permission_alone_does_not_open_the_endpoint(client):
    endpoint = Endpoint.objects.create(url=URL)
    assert staff_client(client, "view_endpoint_secret").get(secret_url(endpoint)).status_code in (
        302,
        403,
    )


# --- actions: their own permissions ----------------------------------------------------


def test_send_test_event_needs_the_add_event_permission(client):
    endpoint = Endpoint.objects.create(url=URL)
    editor = staff_client(client, "view_endpoint", "change_endpoint")
    run_action(editor, Endpoint, "send_test_event", [endpoint])
    assert not Delivery.objects.exists()

    sender = staff_client(client, "view_endpoint", "add_event")
    run_action(sender, Endpoint, "send_test_event", [endpoint])
    assert Delivery.objects.filter(endpoint=endpoint).count() == 1


def test_retry_failed_deliveries_needs_the_change_delivery_permission(client):
    endpoint = Endpoint.objects.create(url=URL)
    failed = make_delivery(endpoint, Delivery.Status.FAILED, (500,))
    editor = staff_client(client, "view_endpoint", "change_endpoint")
    run_action(editor, Endpoint, "retry_failed_deliveries", [endpoint])
    failed.refresh_from_db()
    assert failed.status == Delivery.Status.FAILED

    retrier = staff_client(client, "view_endpoint", "change_delivery")
    run_action(retrier, Endpoint, "retry_failed_deliveries", [endpoint])
    failed.refresh_from_db()
    assert failed.status == Delivery.Status.PENDING


# --- one validation path ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_types", "[1]"),
        ("event_types", "5"),
        ("event_types", '"order.paid"'),
        ("headers", {"Host": "evil.example"}),
        ("headers", {"Transfer-Encoding": "chunked"}),
        ("headers", {"host\n": "x"}),
        ("headers", {"X-Note": "caf\u00e9 \u2615"}),
        ("headers", {"X-Id": redaction.MASK}),  # the mask is no value of a new endpoint
        ("url", "http://169.254.169.254/latest/meta-data/"),
        ("url", "http://10.0.0.1/hook"),
        ("url", "http://[::ffff:10.0.0.1]/hook"),
        ("url", "ftp://hooks.example.com/"),
        ("secret", "whsec_c2hvcnQ="),
        ("rate_limit", "0"),
    ],
)
def test_the_endpoint_form_refuses_what_the_model_refuses(admin_client, field, value):
    response = admin_client.post(reverse(ADD), form_data(**{field: value}))
    assert response.status_code == 200  # the form again, with its errors
    assert field in response.context["adminform"].form.errors, response.context[
        "adminform"
    ].form.errors
    assert not Endpoint.objects.exists()


def test_the_change_form_refuses_bad_settings_too(admin_client):
    endpoint = Endpoint.objects.create(url=URL)
    response = admin_client.post(
        change(endpoint), form_data(endpoint, all_types=None, event_types="[1]")
    )
    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.event_types == []


# --- rows no form could have saved -----------------------------------------------------


@pytest.mark.parametrize("event_types", [5, [1], "order.paid", {"a": 1}])
def test_the_list_shows_an_endpoint_with_unusable_event_types(admin_client, event_types):
    endpoint = Endpoint.objects.create(url=URL)
    Endpoint.objects.filter(pk=endpoint.pk).update(event_types=event_types)
    assert admin_client.get(changelist(Endpoint)).status_code == 200
    assert admin_client.get(change(endpoint)).status_code == 200


# --- credentials masked ----------------------------------------------------------------

SECRET_HEADER_VALUE = "Bearer sk_live_header_token"
PASSWORD_URL = "https://hook-user:url-pass-word@hooks.example.com/in?token=query-secret&x="


@pytest.fixture
def credentialed(db) -> Endpoint:
    return Endpoint.objects.create(
        url=PASSWORD_URL, headers={"Authorization": SECRET_HEADER_VALUE, "X-Tenant": "acme"}
    )


def assert_no_credentials(html: str) -> None:
    for secret in ("sk_live_header_token", "url-pass-word", "query-secret"):
        assert secret not in html


def test_list_and_change_page_mask_credentials(client, credentialed):
    editor = staff_client(client, "view_endpoint", "change_endpoint")
    assert_no_credentials(editor.get(changelist(Endpoint)).content.decode())
    page = editor.get(change(credentialed)).content.decode()
    assert_no_credentials(page)
    assert "Authorization" in page and "hook-user" in page  # what is set, not its value


def test_saving_masked_values_keeps_the_stored_credentials(client, credentialed):
    editor = staff_client(client, "view_endpoint", "change_endpoint")
    form = editor.get(change(credentialed)).context["adminform"].form
    data = form_data(
        credentialed,
        url=form.initial["url"],
        headers=form["headers"].value(),
        description="renamed",
    )
    assert editor.post(change(credentialed), data).status_code == 302
    credentialed.refresh_from_db()
    assert credentialed.description == "renamed"
    assert credentialed.url == PASSWORD_URL
    assert credentialed.headers == {"Authorization": SECRET_HEADER_VALUE, "X-Tenant": "acme"}


def test_a_masked_header_can_be_replaced(client, credentialed):
    editor = staff_client(client, "view_endpoint", "change_endpoint")
    headers = {"Authorization": "Bearer new", "X-Tenant": redaction.MASK}
    response = editor.post(
        change(credentialed),
        form_data(credentialed, headers=headers, url=redaction.mask_url(PASSWORD_URL)),
    )
    assert response.status_code == 302
    credentialed.refresh_from_db()
    assert credentialed.headers == {"Authorization": "Bearer new", "X-Tenant": "acme"}


def test_a_masked_header_does_not_follow_the_endpoint_to_a_new_host(client, credentialed):
    """Saved masked with another host, a header must be entered again; nothing changes."""
    editor = staff_client(client, "view_endpoint", "change_endpoint")
    form = editor.get(change(credentialed)).context["adminform"].form
    data = form_data(credentialed, url="https://93.184.215.14/in", headers=form["headers"].value())
    response = editor.post(change(credentialed), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["headers"]
    assert any("Authorization" in e and "again for the new host" in e for e in errors), errors
    credentialed.refresh_from_db()
    assert credentialed.url == PASSWORD_URL
    assert credentialed.headers == {"Authorization": SECRET_HEADER_VALUE, "X-Tenant": "acme"}


def test_the_secret_permission_shows_credentials(client, credentialed):
    reader = staff_client(client, "view_endpoint", "change_endpoint", "view_endpoint_secret")
    page = reader.get(change(credentialed)).content.decode()
    assert "sk_live_header_token" in page and "url-pass-word" in page


def test_deliveries_and_attempts_mask_urls_and_error_tokens(admin_client, credentialed):
    delivery = make_delivery(credentialed, Delivery.Status.FAILED, (None,))
    error = "Connection refused: https://hooks.example.com/in?token=query-secret&page=2"
    Attempt.objects.filter(delivery=delivery).update(error=error)
    Delivery.objects.filter(pk=delivery.pk).update(last_error=error)
    viewer = staff_client(admin_client, "view_endpoint", "view_delivery", "view_event")
    for url in (changelist(Delivery), change(delivery), changelist(Endpoint)):
        html = viewer.get(url).content.decode()
        assert_no_credentials(html)
    assert "token=" + redaction.MASK in viewer.get(change(delivery)).content.decode()


# --- mutation survivor: an admin save must not reset an endpoint's health ---------------


def test_saving_an_active_failing_endpoint_keeps_its_streak(admin_client):
    since = timezone.now() - timezone.timedelta(days=2)
    endpoint = Endpoint.objects.create(url=URL)
    Endpoint.objects.filter(pk=endpoint.pk).update(
        failure_streak=12, failing_since=since, circuit_failures=3
    )
    response = admin_client.post(change(endpoint), form_data(endpoint, description="edited"))
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.description == "edited" and endpoint.is_active
    assert (endpoint.failure_streak, endpoint.failing_since, endpoint.circuit_failures) == (
        12,
        since,
        3,
    )


def test_saving_does_not_overwrite_health_recorded_meanwhile(admin_client):
    """The form's save writes the fields it edits, not the health columns it loaded: a
    failure recorded by a worker while the admin saves is kept."""
    endpoint = Endpoint.objects.create(url=URL)

    def worker_records_a_failure(sender, instance, **kwargs):
        Endpoint.objects.filter(pk=instance.pk).update(
            failure_streak=4, failing_since=timezone.now()
        )

    pre_save.connect(worker_records_a_failure, sender=Endpoint)
    try:
        response = admin_client.post(change(endpoint), form_data(endpoint, description="x"))
    finally:
        pre_save.disconnect(worker_records_a_failure, sender=Endpoint)
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.description == "x"
    assert endpoint.failure_streak == 4 and endpoint.failing_since is not None


def test_the_subscription_filter_lists_the_patterns_of_usable_rows(admin_client):
    good = Endpoint.objects.create(url=URL, event_types=["order.paid"])
    bad = Endpoint.objects.create(url=URL + "2")
    Endpoint.objects.filter(pk=bad.pk).update(event_types=[1, "user.*"])
    response = admin_client.get(changelist(Endpoint) + "?subscribed=order.paid")
    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == [good.pk]


@pytest.mark.parametrize("headers", [[1], "x", 5, {"X-Id": 5}])
def test_pages_show_an_endpoint_with_unusable_headers(client, headers):
    endpoint = Endpoint.objects.create(url=URL)
    Endpoint.objects.filter(pk=endpoint.pk).update(headers=headers)
    for perms in (("view_endpoint",), ("view_endpoint", "change_endpoint")):
        viewer = staff_client(client, *perms)
        assert viewer.get(changelist(Endpoint)).status_code == 200
        assert viewer.get(change(endpoint)).status_code == 200
