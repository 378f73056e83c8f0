"""Tenancy: whose endpoints an event reaches, tenant keys, the resolver and the migration."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import RequestFactory, override_settings

from tests.conftest import wait_until
from webhooks_app import operations, send_event, tenancy
from webhooks_app.models import Delivery, Endpoint, Event
from webhooks_app.sending import fanout

pytestmark = pytest.mark.django_db(transaction=True)


def _targets(event: Event) -> set[int]:
    return set(Delivery.objects.filter(event=event).values_list("endpoint", flat=True))


def test_an_event_reaches_only_its_own_tenants_endpoints():
    operator = Endpoint.objects.create(url="https://operator.invalid/")
    acme = Endpoint.objects.create(url="https://acme.invalid/", tenant="acme")
    acme_users = Endpoint.objects.create(
        url="https://acme-users.invalid/", tenant="acme", event_types=["user.*"]
    )
    globex = Endpoint.objects.create(url="https://globex.invalid/", tenant="globex")

    for_acme = send_event("order.paid", {}, tenant="acme")
    for_globex = send_event("order.paid", {}, tenant="globex")
    for_operator = send_event("order.paid", {})
    for_nobody = send_event("order.paid", {}, tenant="initech")
    assert fanout.expand_pending() == 4

    assert _targets(for_acme) == {acme.pk}
    assert acme_users.pk not in _targets(for_acme)  # the type filter still applies
    assert _targets(for_globex) == {globex.pk}
    assert _targets(for_operator) == {operator.pk}
    assert _targets(for_nobody) == set()
    assert (for_acme.tenant, for_operator.tenant) == ("acme", "")


def test_a_model_instance_stands_for_its_pk():
    group = Group.objects.create(name="Acme")
    endpoint = Endpoint.objects.create(url="https://acme.invalid/", tenant=str(group.pk))
    event = send_event("order.paid", {}, tenant=group)
    fanout.expand_pending()
    assert event.tenant == str(group.pk)
    assert _targets(event) == {endpoint.pk}


def test_idempotency_keys_are_unique_per_tenant():
    first = send_event("order.paid", {"n": 1}, tenant="acme", idempotency_key="order-1")
    again = send_event("order.paid", {"n": 2}, tenant="acme", idempotency_key="order-1")
    other = send_event("order.paid", {"n": 3}, tenant="globex", idempotency_key="order-1")
    operator = send_event("order.paid", {"n": 4}, idempotency_key="order-1")
    assert again.pk == first.pk
    assert len({first.pk, other.pk, operator.pk}) == 3
    assert Event.objects.count() == 3


@pytest.mark.parametrize(
    ("given", "key"),
    [(None, ""), ("", ""), ("acme", "acme"), (42, "42"), ("org-7", "org-7")],
)
def test_tenant_keys(given, key):
    assert tenancy.tenant_key(given) == key


@pytest.mark.parametrize("given", [True, 1.5, object(), b"acme", ["acme"]])
def test_other_objects_are_not_tenants(given):
    with pytest.raises(TypeError):
        tenancy.tenant_key(given)


def test_an_unsaved_instance_or_an_overlong_key_is_refused():
    with pytest.raises(ValueError, match="unsaved"):
        tenancy.tenant_key(Group(name="new"))
    with pytest.raises(ValueError, match="at most 255"):
        tenancy.tenant_key("x" * 256)
    assert not Event.objects.exists()


def test_a_test_event_belongs_to_its_endpoints_tenant():
    endpoint = Endpoint.objects.create(url="https://acme.invalid/", tenant="acme")
    delivery = operations.send_test_event(endpoint, enqueue=False)
    assert delivery.event.tenant == "acme"


def test_delivered_only_to_the_tenants_endpoint(http_server, celery_worker):
    """Through a real worker and HTTP server: the other tenant's endpoint hears nothing."""
    Endpoint.objects.create(url=http_server.url("/acme"), tenant="acme")
    Endpoint.objects.create(url=http_server.url("/globex"), tenant="globex")
    send_event("order.paid", {"order": 1}, tenant="acme")
    wait_until(lambda: Delivery.objects.filter(status="succeeded").exists())
    send_event("order.paid", {"order": 2}, tenant="globex")
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 2)
    assert [request.path for request in http_server.requests] == ["/acme", "/globex"]


request_factory = RequestFactory()


def test_no_resolver_means_no_tenant():
    assert tenancy.resolve(request_factory.get("/", HTTP_X_TENANT="acme")) is None


@override_settings(WEBHOOKS={"TENANT_RESOLVER": "tests.tenants.tenant_from_header"})
def test_the_resolver_names_the_tenant():
    assert tenancy.resolve(request_factory.get("/", HTTP_X_TENANT="acme")) == "acme"
    assert tenancy.resolve(request_factory.get("/")) is None
    # The operator's own endpoints are never a customer's: "" resolves to no tenant.
    assert tenancy.resolve(request_factory.get("/", HTTP_X_TENANT="")) is None


@override_settings(WEBHOOKS={"MAX_ENDPOINTS_PER_TENANT": 2})
def test_endpoint_limit_per_tenant():
    Endpoint.objects.create(url="https://a.invalid/", tenant="acme")
    Endpoint.objects.create(url="https://b.invalid/", tenant="globex")
    assert not operations.endpoint_limit_reached("acme")
    Endpoint.objects.create(url="https://c.invalid/", tenant="acme")
    assert operations.endpoint_limit_reached("acme")
    assert not operations.endpoint_limit_reached("globex")


def test_no_endpoint_limit_by_default():
    Endpoint.objects.bulk_create(
        Endpoint(url=f"https://{i}.invalid/", tenant="acme") for i in range(30)
    )
    assert not operations.endpoint_limit_reached("acme")


def test_the_migration_keeps_existing_rows_as_the_operators():
    executor = MigrationExecutor(connection)
    before = [("webhooks_app", "0004_endpoint_secret_permission")]
    # Through 0005_tenancy, and the migrations after it: the models below match the tables.
    after = executor.loader.graph.leaf_nodes("webhooks_app")
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    old.get_model("webhooks_app", "Endpoint").objects.create(url="https://old.invalid/")
    old.get_model("webhooks_app", "Event").objects.create(
        id="msg_old", event_type="order.paid", payload={}, idempotency_key="k"
    )
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    assert Endpoint.objects.get().tenant == ""
    assert Event.objects.get().tenant == ""
    # The key is unique per tenant now: the same key is free for another tenant.
    assert send_event("order.paid", {}, tenant="acme", idempotency_key="k").pk != "msg_old"
    assert send_event("order.paid", {}, idempotency_key="k").pk == "msg_old"


# --- names: WEBHOOKS["TENANT_LABEL"] and ["TENANT_CHOICES"] -----------------------------


def test_a_tenant_is_labelled_by_its_key_by_default():
    assert tenancy.label("acme") == "acme"
    assert tenancy.choices() is None


@override_settings(WEBHOOKS={"TENANT_LABEL": "tests.tenants.tenant_name"})
def test_the_label_function_names_tenants():
    assert tenancy.label("acme") == "Acme Inc."
    assert tenancy.label("initech") == "initech"  # no name: the key
    assert tenancy.label("") == ""  # the operator's own are never the project's to name


@override_settings(WEBHOOKS={"TENANT_CHOICES": "tests.tenants.tenant_choices"})
def test_the_choices_function_lists_tenants():
    assert tenancy.choices() == [("acme", "Acme Inc."), ("globex", "Globex Corporation")]


@pytest.mark.parametrize("key", ["TENANT_LABEL", "TENANT_CHOICES"])
def test_an_unimportable_path_is_improperly_configured(key):
    with override_settings(WEBHOOKS={key: "tests.tenants.no_such_function"}):
        with pytest.raises(ImproperlyConfigured, match=key):
            tenancy.label("acme") if key == "TENANT_LABEL" else tenancy.choices()
