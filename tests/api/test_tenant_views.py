"""The customer-facing REST API (``webhooks_app.api.tenant_urls``): every route, one tenant.

The route table below is checked against the tenant router's URL patterns
(:func:`test_the_table_lists_every_route_of_the_tenant_api`), so a new route or action
cannot go untested. Each route is called by its owner (it works), by another tenant with
the owner's objects (404, as for a missing object, and nothing changes), anonymously,
by a user the resolver finds no tenant for, and with no resolver configured. Customers are
plain users: not staff, no model permissions. The tests resolve the tenant from an
``X-Tenant`` header (``tests.tenants.tenant_from_header``) unless they say otherwise.
"""

from __future__ import annotations

import json
import warnings

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from tests.api.test_permissions import api_routes
from tests.api.test_views import (
    API,
    LOCAL_URL,
    all_permissions,
    make_delivery,
    make_event,
    webhooks,
)
from tests.conftest import wait_until
from webhooks_app import event_types, operations, signing
from webhooks_app.api import tenant_urls
from webhooks_app.api.permissions import TenantPermission
from webhooks_app.models import Attempt, Delivery, Endpoint, Event
from webhooks_app.redaction import MASK
from webhooks_app.testing import isolated_event_types

pytestmark = pytest.mark.django_db

TENANT_API = "/api/customer/webhooks/"
HEADER_RESOLVER = "tests.tenants.tenant_from_header"

# (url name, method) -> (path, body, status for the owner). "{id}" is the id of the
# owner's object of the collection the path names.
ROUTES = {
    ("api-root", "get"): ("", None, 200),
    ("schema", "get"): ("schema/", None, 200),
    ("endpoint-list", "get"): ("endpoints/", None, 200),
    ("endpoint-list", "post"): ("endpoints/", {"url": LOCAL_URL + "/new"}, 201),
    ("endpoint-detail", "get"): ("endpoints/{id}/", None, 200),
    ("endpoint-detail", "put"): (
        "endpoints/{id}/",
        {"url": LOCAL_URL + "/put", "event_types": ["a.b"]},
        200,
    ),
    ("endpoint-detail", "patch"): ("endpoints/{id}/", {"description": "patched"}, 200),
    ("endpoint-detail", "delete"): ("endpoints/{id}/", None, 204),
    ("endpoint-reveal-secret", "get"): ("endpoints/{id}/reveal-secret/", None, 200),
    ("endpoint-rotate-secret", "post"): ("endpoints/{id}/rotate-secret/", None, 200),
    ("endpoint-send-test", "post"): ("endpoints/{id}/send-test/", {}, 202),
    ("endpoint-enable", "post"): ("endpoints/{id}/enable/", None, 200),
    ("endpoint-disable", "post"): ("endpoints/{id}/disable/", {"reason": "maintenance"}, 200),
    ("endpoint-stats", "get"): ("endpoints/{id}/stats/", None, 200),
    ("event-list", "get"): ("events/", None, 200),
    ("event-detail", "get"): ("events/{id}/", None, 200),
    ("delivery-list", "get"): ("deliveries/", None, 200),
    ("delivery-detail", "get"): ("deliveries/{id}/", None, 200),
    ("delivery-retry", "post"): ("deliveries/{id}/retry/", None, 202),
    # The catalog is the same for every tenant (``catalog`` registers the type).
    ("event-type-list", "get"): ("event-types/", None, 200),
    ("event-type-detail", "get"): ("event-types/{name}/", None, 200),
}
KEYS = list(ROUTES)
IDS = [f"{method.upper()} {name}" for name, method in KEYS]
OBJECT_KEYS = [key for key in KEYS if "{id}" in ROUTES[key][0]]
OBJECT_IDS = [IDS[KEYS.index(key)] for key in OBJECT_KEYS]
LIST_PATHS = ["endpoints/", "events/", "deliveries/"]
MODELS = (Endpoint, Event, Delivery, Attempt)
# What a missing object's id looks like, per collection.
MISSING = {"endpoints": 10**9, "events": "msg_missing", "deliveries": 10**9}


@pytest.fixture(autouse=True)
def header_resolver():
    with webhooks(TENANT_RESOLVER=HEADER_RESOLVER):
        yield


@pytest.fixture(autouse=True)
def catalog():
    with isolated_event_types():
        event_types.register("order.paid", description="An order was paid.", example={"id": 1})
        yield


def owned_objects(tenant: str) -> dict:
    """One object per collection for ``tenant``, in a state where every action applies."""
    endpoint = Endpoint.objects.create(url=LOCAL_URL, description=f"{tenant} orders", tenant=tenant)
    delivery = make_delivery(endpoint, make_event(tenant=tenant), status=Delivery.Status.PENDING)
    Attempt.objects.create(delivery=delivery, number=1, status_code=500, response_body=tenant)
    return {"endpoints": endpoint, "events": delivery.event, "deliveries": delivery}


@pytest.fixture
def acme(db) -> dict:
    return owned_objects("acme")


@pytest.fixture
def globex(db) -> dict:
    return owned_objects("globex")


@pytest.fixture
def operator(db) -> dict:
    """The operator's own objects (tenant ""): no customer ever sees them."""
    return owned_objects("")


@pytest.fixture
def customer(django_user_model):
    """An API client for a plain user (not staff, no permissions) acting for ``tenant``;
    ``tenant=None`` sends no X-Tenant header."""

    def make(tenant: str | None = "acme") -> APIClient:
        user = django_user_model.objects.create_user(f"customer{django_user_model.objects.count()}")
        client = APIClient()
        client.force_authenticate(user)
        if tenant is not None:
            client.credentials(HTTP_X_TENANT=tenant)
        return client

    return make


def route_path(key, objects: dict | None, *, missing: bool = False) -> str:
    template = ROUTES[key][0].replace("{name}", "order.paid")
    if "{id}" not in template:
        return TENANT_API + template
    collection = template.split("/", 1)[0]
    pk = MISSING[collection] if missing else objects[collection].pk
    return TENANT_API + template.format(id=pk)


def call(client: APIClient, key, objects: dict | None, *, missing: bool = False):
    body = ROUTES[key][1]
    return getattr(client, key[1])(route_path(key, objects, missing=missing), body, format="json")


def snapshot() -> list:
    """Every row of the models the API touches, to tell that nothing changed."""
    return [list(model.objects.order_by("pk").values()) for model in MODELS]


def result_ids(response) -> set:
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["results"]}


# --- the route table -----------------------------------------------------------------


def test_the_table_lists_every_route_of_the_tenant_api():
    assert api_routes(tenant_urls.urlpatterns) == set(ROUTES)


def test_the_route_table_covers_every_operation_of_the_schema(acme, customer):
    schema = customer().get(TENANT_API + "schema/").json()
    in_schema = {
        (method, path.removeprefix(TENANT_API))
        for path, ops in schema["paths"].items()
        for method in ops
    }
    tested = {(method, ROUTES[name, method][0]) for name, method in KEYS if name != "api-root"}
    assert in_schema == tested - {("get", "schema/")}


# --- the owner: every route works ------------------------------------------------------


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_the_owner_may_use_every_route(acme, globex, customer, key):
    response = call(customer("acme"), key, acme)
    assert response.status_code == ROUTES[key][2], response.content


# --- another tenant: 404 on every route, nothing changes ------------------------------


@pytest.mark.parametrize("key", OBJECT_KEYS, ids=OBJECT_IDS)
def test_another_tenants_object_is_not_found(acme, globex, operator, customer, key):
    before = snapshot()
    intruder = customer("globex")
    response = call(intruder, key, acme)
    assert response.status_code == 404, response.content
    assert snapshot() == before
    # Exactly what a missing object answers: nothing tells that it exists.
    missing = call(intruder, key, acme, missing=True)
    assert (missing.status_code, missing.json()) == (404, response.json())
    # The operator's objects are nobody's to reach either.
    assert call(intruder, key, operator).status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("key", [k for k in OBJECT_KEYS if k[1] == "get"], ids=repr)
def test_head_and_options_tell_nothing_of_another_tenants_object(acme, globex, customer, key):
    intruder = customer("globex")
    assert intruder.head(route_path(key, acme)).status_code == 404
    foreign = intruder.options(route_path(key, acme))
    missing = intruder.options(route_path(key, acme, missing=True))
    assert foreign.status_code == missing.status_code
    assert foreign.json() == missing.json()
    assert "actions" not in foreign.json()
    # For its own endpoint the owner's answer describes the PUT form: the two can differ.
    owner = customer("acme").options(route_path(("endpoint-detail", "get"), acme))
    assert "actions" in owner.json()


@pytest.mark.parametrize("collection", LIST_PATHS)
def test_lists_show_only_the_tenants_own_objects(acme, globex, operator, customer, collection):
    name = collection.rstrip("/")
    for tenant, objects in (("acme", acme), ("globex", globex)):
        listed = result_ids(customer(tenant).get(TENANT_API + collection))
        assert listed == {objects[name].pk}
    assert result_ids(customer("initech").get(TENANT_API + collection)) == set()


def test_a_tenant_filter_in_the_query_string_changes_nothing(acme, globex, customer):
    client = customer("acme")
    for collection in LIST_PATHS:
        listed = result_ids(client.get(TENANT_API + collection, {"tenant": "globex"}))
        assert listed == {acme[collection.rstrip("/")].pk}


def test_the_tenants_details_show_only_its_own_deliveries_and_attempts(acme, globex, customer):
    client = customer("acme")
    event = client.get(TENANT_API + f"events/{acme['events'].pk}/").json()
    assert [d["id"] for d in event["deliveries"]] == [acme["deliveries"].pk]
    delivery = client.get(TENANT_API + f"deliveries/{acme['deliveries'].pk}/").json()
    assert [a["response_body"] for a in delivery["attempts"]] == ["acme"]


def test_an_endpoint_moved_by_staff_leaves_its_former_tenant(acme, customer):
    """Staff may give an endpoint to another tenant: its old deliveries, of the first
    tenant's events, are then shown to neither (the URL is the new owner's, the event
    the old owner's)."""
    Endpoint.objects.filter(pk=acme["endpoints"].pk).update(tenant="globex")
    old_owner, new_owner = customer("acme"), customer("globex")
    assert result_ids(old_owner.get(TENANT_API + "endpoints/")) == set()
    assert result_ids(new_owner.get(TENANT_API + "endpoints/")) == {acme["endpoints"].pk}
    for client in (old_owner, new_owner):
        assert result_ids(client.get(TENANT_API + "deliveries/")) == set()
        path = TENANT_API + f"deliveries/{acme['deliveries'].pk}/"
        assert client.get(path).status_code == 404
    event = old_owner.get(TENANT_API + f"events/{acme['events'].pk}/").json()
    assert event["deliveries"] == []


# --- who is refused --------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_anonymous_is_refused_everywhere(acme, key):
    before = snapshot()
    anonymous = APIClient()
    anonymous.credentials(HTTP_X_TENANT="acme")  # the resolver would find one: not enough
    assert call(anonymous, key, acme).status_code in (401, 403)
    assert snapshot() == before


@pytest.mark.parametrize("tenant", [None, ""], ids=["no header", "empty"])
@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_a_user_acting_for_no_tenant_is_refused_everywhere(acme, customer, key, tenant):
    before = snapshot()
    response = call(customer(tenant), key, acme)
    assert response.status_code == 403
    assert response.json()["detail"] == str(TenantPermission.NO_TENANT)
    assert snapshot() == before


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_without_a_resolver_everyone_is_refused(acme, customer, django_user_model, key):
    staff = django_user_model.objects.create_superuser("root", is_staff=True)
    superuser = APIClient()
    superuser.force_authenticate(staff)
    with webhooks(TENANT_RESOLVER=None):
        for client in (customer("acme"), superuser):
            response = call(client, key, acme)
            assert response.status_code == 403
            assert response.json()["detail"] == str(TenantPermission.NO_RESOLVER)


def test_staff_permissions_open_nothing_here_and_a_tenant_opens_nothing_there(
    acme, customer, django_user_model
):
    """The tenant API asks for a tenant, not permissions; the staff API the reverse."""
    staff = django_user_model.objects.create_user("operator", is_staff=True)
    staff.user_permissions.set(all_permissions())
    operator = APIClient()
    operator.force_authenticate(staff)
    assert operator.get(TENANT_API + "endpoints/").status_code == 403  # no tenant
    assert operator.get(API + "endpoints/").status_code == 200
    client = customer("acme")
    assert client.get(TENANT_API + "endpoints/").status_code == 200
    assert client.get(API + "endpoints/").status_code == 403


def test_the_resolver_sees_the_user_drf_authenticated(acme, django_user_model):
    """HTTP Basic: Django's middleware sees an anonymous user, DRF the real one."""
    user = django_user_model.objects.create_user("ada", password="pw")
    user.groups.add(Group.objects.create(name="acme"))
    django_user_model.objects.create_user("bob", password="pw")  # in no group
    client = APIClient()
    with webhooks(TENANT_RESOLVER="tests.tenants.tenant_from_user_group"):
        client.credentials(HTTP_AUTHORIZATION="Basic YWRhOnB3")  # ada:pw
        assert result_ids(client.get(TENANT_API + "endpoints/")) == {acme["endpoints"].pk}
        client.credentials(HTTP_AUTHORIZATION="Basic Ym9iOnB3")  # bob:pw
        assert client.get(TENANT_API + "endpoints/").status_code == 403


# --- the tenant never comes from the body ---------------------------------------------


def test_a_tenant_in_the_create_body_is_ignored(acme, customer):
    response = customer("acme").post(
        TENANT_API + "endpoints/", {"url": LOCAL_URL, "tenant": "globex"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["tenant"] == "acme"
    assert Endpoint.objects.get(pk=response.json()["id"]).tenant == "acme"
    assert not Endpoint.objects.filter(tenant="globex").exists()


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("tenant", ["globex", ""])
def test_a_tenant_in_an_update_body_is_ignored(acme, customer, method, tenant):
    endpoint = acme["endpoints"]
    body = {"url": LOCAL_URL + "/moved", "description": "moved?", "tenant": tenant}
    response = getattr(customer("acme"), method)(
        TENANT_API + f"endpoints/{endpoint.pk}/", body, format="json"
    )
    assert response.status_code == 200, response.content
    endpoint.refresh_from_db()
    assert (endpoint.tenant, endpoint.description) == ("acme", "moved?")
    assert response.json()["tenant"] == "acme"


def test_customers_set_their_endpoints_contact_address(acme, customer):
    endpoint = acme["endpoints"]
    path = TENANT_API + f"endpoints/{endpoint.pk}/"
    response = customer("acme").patch(path, {"contact_email": "ops@acme.example"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["contact_email"] == "ops@acme.example"
    endpoint.refresh_from_db()
    assert endpoint.contact_email == "ops@acme.example"


def test_the_schema_shows_the_tenant_read_only(acme, customer):
    schema = customer("acme").get(TENANT_API + "schema/").json()
    assert schema["components"]["schemas"]["Endpoint"]["properties"]["tenant"]["readOnly"] is True


# --- events are read-only ---------------------------------------------------------------


def test_customers_cannot_create_events(acme, customer):
    client = customer("acme")
    body = {"event_type": "order.paid", "payload": {}, "tenant": "acme"}
    response = client.post(TENANT_API + "events/", body, format="json")
    assert response.status_code == 405
    assert "POST" not in response["Allow"]
    event = acme["events"]
    for method in ("put", "patch", "delete"):
        path = TENANT_API + f"events/{event.pk}/"
        assert getattr(client, method)(path, {}, format="json").status_code == 405
    assert Event.objects.count() == 1


# --- the endpoint limit ----------------------------------------------------------------


def add_endpoint(client: APIClient, path: str = TENANT_API, **fields):
    return client.post(path + "endpoints/", {"url": LOCAL_URL, **fields}, format="json")


def test_the_endpoint_limit_refuses_one_more(acme, globex, customer, django_user_model):
    client = customer("acme")
    with webhooks(MAX_ENDPOINTS_PER_TENANT=2):
        assert add_endpoint(client).status_code == 201
        refused = add_endpoint(client)
        assert refused.status_code == 409
        assert refused.json() == {
            "detail": "This account may have at most 2 endpoints; delete one to add another."
        }
        assert Endpoint.objects.filter(tenant="acme").count() == 2
        # Another tenant counts its own; deleting one makes room again.
        assert add_endpoint(customer("globex")).status_code == 201
        assert client.delete(TENANT_API + f"endpoints/{acme['endpoints'].pk}/").status_code == 204
        assert add_endpoint(client).status_code == 201
        # Staff are not limited.
        staff = django_user_model.objects.create_user("operator", is_staff=True)
        staff.user_permissions.set(all_permissions())
        operator = APIClient()
        operator.force_authenticate(staff)
        assert add_endpoint(operator, API, tenant="acme").status_code == 201
    assert Endpoint.objects.filter(tenant="acme").count() == 3


def test_a_limit_of_one_says_so(customer):
    with webhooks(MAX_ENDPOINTS_PER_TENANT=1):
        client = customer("acme")
        assert add_endpoint(client).status_code == 201
        refused = add_endpoint(client)
    assert refused.status_code == 409
    assert "at most 1 endpoint;" in refused.json()["detail"]


# --- secrets and credentials: the owner set them, the owner sees them -------------------

HEADERS = {"Authorization": "Bearer acme-token"}
PASSWORD_URL = "http://hook:url-pass@127.0.0.1:9/in?token=query-secret"


def test_the_owner_sees_its_secret_on_create_reveal_and_rotate(customer):
    client = customer("acme")
    created = client.post(TENANT_API + "endpoints/", {"url": LOCAL_URL}, format="json")
    endpoint = Endpoint.objects.get(pk=created.json()["id"])
    assert created.json()["secret"] == endpoint.secret
    assert "no-store" in created["Cache-Control"]
    revealed = client.get(TENANT_API + f"endpoints/{endpoint.pk}/reveal-secret/")
    assert revealed.json()["secret"] == endpoint.secret
    assert "no-store" in revealed["Cache-Control"]
    rotated = client.post(TENANT_API + f"endpoints/{endpoint.pk}/rotate-secret/")
    old = endpoint.secret
    endpoint.refresh_from_db()
    assert rotated.json()["secret"] == endpoint.secret != old
    assert endpoint.signing_secrets() == [endpoint.secret, old]
    # Never in the endpoint's own representation.
    for reply in (
        client.get(TENANT_API + "endpoints/"),
        client.get(TENANT_API + f"endpoints/{endpoint.pk}/"),
    ):
        assert endpoint.secret not in reply.content.decode()
        assert "secret" not in json.dumps(reply.json())


def test_the_owner_sees_its_headers_and_url_unmasked(customer, django_user_model):
    client = customer("acme")
    created = client.post(
        TENANT_API + "endpoints/", {"url": PASSWORD_URL, "headers": HEADERS}, format="json"
    )
    assert created.status_code == 201, created.content
    endpoint = Endpoint.objects.get(pk=created.json()["id"])
    delivery = make_delivery(endpoint, make_event(tenant="acme"))
    detail = client.get(TENANT_API + f"endpoints/{endpoint.pk}/").json()
    assert (detail["url"], detail["headers"]) == (PASSWORD_URL, HEADERS)
    listed = client.get(TENANT_API + "deliveries/").json()["results"]
    assert [d["endpoint_url"] for d in listed] == [PASSWORD_URL]
    shown = client.get(TENANT_API + f"deliveries/{delivery.pk}/").json()
    assert shown["endpoint_url"] == PASSWORD_URL
    # Staff without the secret permission still see them masked.
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.set([p for p in all_permissions() if p.codename == "view_endpoint"])
    staff = APIClient()
    staff.force_authenticate(viewer)
    assert staff.get(API + f"endpoints/{endpoint.pk}/").json()["headers"] == {"Authorization": MASK}


# --- the actions, on the owner's objects ------------------------------------------------


def test_enable_and_disable(acme, customer):
    client, endpoint = customer("acme"), acme["endpoints"]
    disabled = client.post(
        TENANT_API + f"endpoints/{endpoint.pk}/disable/", {"reason": "holiday"}, "json"
    )
    assert disabled.status_code == 200
    assert (disabled.json()["is_active"], disabled.json()["disabled_reason"]) == (False, "holiday")
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    enabled = client.post(TENANT_API + f"endpoints/{endpoint.pk}/enable/")
    assert enabled.json()["is_active"] is True
    endpoint.refresh_from_db()
    assert endpoint.is_active


def test_retry_a_failed_delivery_and_not_a_succeeded_one(acme, customer):
    client, delivery = customer("acme"), acme["deliveries"]
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.FAILED, finished_at=timezone.now()
    )
    response = client.post(TENANT_API + f"deliveries/{delivery.pk}/retry/")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.finished_at) == (Delivery.Status.PENDING, None)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.SUCCEEDED)
    assert client.post(TENANT_API + f"deliveries/{delivery.pk}/retry/").status_code == 409


def test_cancel_is_the_operators(acme, customer):
    path = TENANT_API + f"deliveries/{acme['deliveries'].pk}/cancel/"
    assert customer("acme").post(path).status_code == 404  # no such route here
    acme["deliveries"].refresh_from_db()
    assert acme["deliveries"].status == Delivery.Status.PENDING


def test_deliveries_filter_as_in_the_staff_api(acme, customer):
    client = customer("acme")
    failed = make_delivery(
        acme["endpoints"], make_event("user.created", tenant="acme"), status=Delivery.Status.FAILED
    )
    assert result_ids(client.get(TENANT_API + "deliveries/", {"status": "failed"})) == {failed.pk}
    assert result_ids(client.get(TENANT_API + "deliveries/", {"event_type": "user.created"})) == {
        failed.pk
    }
    assert client.get(TENANT_API + "deliveries/", {"status": "lost"}).status_code == 400
    assert result_ids(client.get(TENANT_API + "events/", {"event_type": "order.paid"})) == {
        acme["events"].pk
    }


@pytest.mark.django_db(transaction=True)
def test_a_test_event_reaches_the_endpoint_signed_with_its_secret(
    http_server, celery_worker, customer
):
    client = customer("acme")
    created = client.post(TENANT_API + "endpoints/", {"url": http_server.url()}, format="json")
    assert created.status_code == 201, created.content
    endpoint_id, secret = created.json()["id"], created.json()["secret"]
    sent = client.post(
        TENANT_API + f"endpoints/{endpoint_id}/send-test/", {"payload": {"hi": 1}}, format="json"
    )
    assert sent.status_code == 202, sent.content
    (request,) = http_server.wait_for(1)
    event = Event.objects.get()
    assert (event.tenant, event.event_type) == ("acme", operations.TEST_EVENT_TYPE)
    assert request.json()["data"] == {"hi": 1}
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["webhook-id"] == event.pk
    signing.verify(
        secret, event.pk, headers["webhook-timestamp"], request.body, headers["webhook-signature"]
    )
    wait_until(lambda: Delivery.objects.filter(status="succeeded").exists())
    detail = client.get(TENANT_API + f"deliveries/{sent.json()['id']}/").json()
    assert detail["status"] == "succeeded"
    assert [a["status_code"] for a in detail["attempts"]] == [200]


# --- schema and browsable API -----------------------------------------------------------


def test_the_schema_is_a_valid_openapi_document_of_the_tenant_routes(acme, customer):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        response = customer("acme").get(TENANT_API + "schema/")
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate(schema)
    assert all(path.startswith(TENANT_API) for path in schema["paths"])
    assert "post" not in schema["paths"][TENANT_API + "events/"]
    for path in (TENANT_API + "endpoints/", TENANT_API + "events/", TENANT_API + "deliveries/"):
        names = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
        assert "tenant" not in names
    assert "status" in {
        p["name"] for p in schema["paths"][TENANT_API + "deliveries/"]["get"]["parameters"]
    }


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
GET_KEYS = [key for key in KEYS if key[1] == "get"]


@pytest.mark.parametrize("key", GET_KEYS, ids=[IDS[KEYS.index(k)] for k in GET_KEYS])
def test_the_browsable_api_renders(acme, customer, key):
    response = customer("acme").get(route_path(key, acme), HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html") == (key[0] != "schema")


# --- the catalog and an endpoint's statistics -----------------------------------------


def test_the_catalog_is_the_staff_apis(acme, customer, admin_client):
    mine = customer("acme").get(TENANT_API + "event-types/")
    assert mine.status_code == 200
    assert mine.json() == admin_client.get(API + "event-types/").json()
    assert [item["name"] for item in mine.json()] == ["order.paid"]
    assert customer("acme").get(TENANT_API + "event-types/order.unknown/").status_code == 404


def test_an_endpoints_statistics_count_its_own_tries(acme, globex, customer, admin_client):
    endpoint = acme["endpoints"]
    Attempt.objects.create(
        delivery=acme["deliveries"], number=2, error_type="timeout", duration_ms=3000
    )
    stats = customer("acme").get(TENANT_API + f"endpoints/{endpoint.pk}/stats/").json()
    # The fixture's 500 and this timeout; globex's 500 is not counted.
    assert stats["tries"] == 2
    assert stats["success_rate"] == 0
    assert stats["status_classes"] == {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 1, "error": 1}
    assert stats["latency_ms"] == {"p50": 0, "p99": 3000}
    assert stats["last_try"]["error_type"] == "timeout"
    assert len(stats["hourly"]) == 24 and len(stats["daily"]) == 7
    assert stats["hourly"][-1] | {"start": None} == {
        "start": None,
        "succeeded": 0,
        "retrying": 2,  # the delivery is pending: both will be tried again
        "failed": 0,
    }
    assert stats["daily"][-1]["retrying"] == 2
    # Staff see the same through the staff API.
    assert admin_client.get(API + f"endpoints/{endpoint.pk}/stats/").json() == stats


# --- state -------------------------------------------------------------------------------


def test_endpoints_and_deliveries_say_their_state_and_next_try(acme, customer, django_user_model):
    """After six 503s: the circuit open, a delivery whose time has passed waits for it."""
    from datetime import timedelta

    now = timezone.now()
    reopens = now + timedelta(seconds=30)
    endpoint, delivery = acme["endpoints"], acme["deliveries"]
    Endpoint.objects.filter(pk=endpoint.pk).update(
        failure_streak=6,
        failing_since=now,
        circuit_failures=6,
        circuit_opened_at=now,
        paused_until=reopens,
    )
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now - timedelta(seconds=20))
    admin = django_user_model.objects.create_user("staffer", is_staff=True)
    admin.user_permissions.set(all_permissions())
    staff_client = APIClient()
    staff_client.force_authenticate(admin)
    for client, root in ((customer(), TENANT_API), (staff_client, API)):
        shown = client.get(f"{root}endpoints/{endpoint.pk}/").json()["state"]
        assert shown["code"] == "circuit_open"
        assert "6 timeouts or errors in a row" in shown["reason"]
        assert shown["until"] == reopens.isoformat().replace("+00:00", "Z")
        listed = client.get(f"{root}endpoints/").json()["results"][0]["state"]
        assert listed == shown
        for path in (f"deliveries/{delivery.pk}/", "deliveries/"):
            body = client.get(root + path).json()
            item = body["results"][0] if "results" in body else body
            assert item["state"]["code"] == "waiting"
            assert item["state"]["until"] == shown["until"]  # not the time gone by
    Endpoint.objects.filter(pk=endpoint.pk).update(is_active=False, disabled_reason="410 Gone")
    shown = customer().get(f"{TENANT_API}endpoints/{endpoint.pk}/").json()["state"]
    assert shown == {
        "code": "disabled",
        "reason": "410 Gone",
        "until": None,
        "window": {"seconds": 60.0, "requests": 0, "failures": 0, "failure_rate": None},
    }


def test_an_endpoints_state_says_its_recent_failure_rate_in_both_apis(
    acme, customer, django_user_model, settings
):
    """The circuit breaker's window: 12 of 40 tries failed, and the circuit opened on it.
    (A window of a day, so that no boundary passes while the test runs.)"""
    from datetime import timedelta

    from webhooks_app import breaker

    settings.WEBHOOKS = {**settings.WEBHOOKS, "CIRCUIT_BREAKER_WINDOW": 86_400}
    now = timezone.now()
    endpoint = acme["endpoints"]
    Endpoint.objects.filter(pk=endpoint.pk).update(
        window_started_at=breaker.window_start(now, 86_400),
        window_requests=40,
        window_failures=12,
        circuit_failures=2,
        circuit_opened_at=now,
        paused_until=now + timedelta(seconds=30),
    )
    admin = django_user_model.objects.create_user("staffer", is_staff=True)
    admin.user_permissions.set(all_permissions())
    staff_client = APIClient()
    staff_client.force_authenticate(admin)
    for client, root in ((customer(), TENANT_API), (staff_client, API)):
        shown = client.get(f"{root}endpoints/{endpoint.pk}/").json()["state"]
        assert shown["window"] == {
            "seconds": 86_400.0,
            "requests": 40,
            "failures": 12,
            "failure_rate": 0.3,
        }
        assert shown["code"] == "circuit_open"
        assert "12 of the last 40 requests failed (30 %" in shown["reason"]
