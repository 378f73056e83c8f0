"""Model-change events: written in the model change's transaction, coalesced per object."""

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tests.conftest import wait_until
from tests.model_events_app.models import Note, Order, Shop
from webhooks_app import InvalidPayload, event_types, send_event
from webhooks_app.models import Delivery, Endpoint, Event
from webhooks_app.sending import fanout, model_events
from webhooks_app.testing import isolated_event_types

pytestmark = pytest.mark.django_db(transaction=True)

NOTE_EVENTS = {"created": "note.created", "updated": "note.updated", "deleted": "note.deleted"}


class Abort(Exception):
    pass


@pytest.fixture
def shop():
    return Shop.objects.create(name="Acme")


@pytest.fixture
def notes():
    """Note registered with a function serializer and a callable tenant."""
    registration = model_events.register(
        Note,
        events=NOTE_EVENTS,
        serializer=lambda note: {"id": note.pk, "text": note.text.upper()},
        tenant=lambda note: "notes",
    )
    yield registration
    model_events.unregister(Note)


def only_event() -> Event:
    events = list(Event.objects.all())
    assert len(events) == 1, [(e.event_type, e.payload) for e in events]
    return events[0]


def order_payload(order: Order) -> dict:
    return {
        "id": order.pk,
        "shop": order.shop_id,
        "number": order.number,
        "total": f"{Decimal(order.total):.2f}",
        "status": order.status,
    }


# --- what is sent --------------------------------------------------------------------


def test_registered_by_the_apps_webhooks_module():
    registration = model_events.get(Order)
    assert registration is not None
    assert registration.events["created"] == "order.created"
    assert model_events.get(Shop) is None


def test_create_update_delete_with_a_drf_serializer(shop):
    order = Order.objects.create(shop=shop, number="A-1", total=Decimal("9.50"))
    created = only_event()
    assert created.event_type == "order.created"
    assert (
        created.payload
        == order_payload(order)
        == {
            "id": order.pk,
            "shop": shop.pk,
            "number": "A-1",
            "total": "9.50",
            "status": "new",
        }
    )
    assert created.tenant == str(shop.pk)

    order.status = "paid"
    order.save()
    updated = Event.objects.exclude(pk=created.pk).get()
    assert updated.event_type == "order.updated"
    assert updated.payload["status"] == "paid"

    pk = order.pk
    order.delete()
    deleted = Event.objects.exclude(pk__in=[created.pk, updated.pk]).get()
    assert deleted.event_type == "order.deleted"
    assert deleted.payload == {**order_payload(order), "id": pk}  # serialized before it went
    assert deleted.tenant == str(shop.pk)


def test_function_serializer_and_callable_tenant(notes):
    note = Note.objects.create(text="hello")
    pk = note.pk
    note.text = "bye"
    note.save()
    note.delete()
    sent = {e.event_type: (e.payload, e.tenant) for e in Event.objects.all()}
    assert sent == {
        "note.created": ({"id": pk, "text": "HELLO"}, "notes"),
        "note.updated": ({"id": pk, "text": "BYE"}, "notes"),
        "note.deleted": ({"id": pk, "text": "BYE"}, "notes"),
    }


def test_fields_serializer_sends_only_the_chosen_fields(shop):
    model_events.register(Note, events={"created": "note.created"}, fields=["text", "shop"])
    try:
        Note.objects.create(text="F-1", shop=shop)
    finally:
        model_events.unregister(Note)
    event = only_event()
    assert event.payload == {"text": "F-1", "shop": shop.pk}  # a foreign key as its pk
    assert event.tenant == ""  # no tenant given: the operator's


def test_kinds_left_out_are_not_sent(shop, notes):
    model_events.unregister(Note)
    model_events.register(Note, events={"deleted": "note.deleted"}, serializer=lambda n: {})
    note = Note.objects.create(text="a")
    note.save()
    assert not Event.objects.exists()
    note.delete()
    assert only_event().event_type == "note.deleted"


def test_tenant_from_the_instance_reaches_only_that_tenants_endpoints(shop):
    other = Shop.objects.create(name="Other")
    mine = Endpoint.objects.create(url="https://acme.invalid/", tenant=str(shop.pk))
    Endpoint.objects.create(url="https://other.invalid/", tenant=str(other.pk))
    Endpoint.objects.create(url="https://operator.invalid/")

    Order.objects.create(shop=shop, number="T-1")
    fanout.expand_pending()
    assert list(Delivery.objects.values_list("endpoint", flat=True)) == [mine.pk]


def test_unregistered_model_runs_no_extra_query_and_unregister_stops_events(notes):
    with CaptureQueriesContext(connection) as ctx:
        Shop.objects.create(name="Quiet")
    assert len(ctx.captured_queries) == 1  # the shop's INSERT alone
    model_events.unregister(Note)
    Note.objects.create(text="after")
    assert not Event.objects.exists()


def test_loaddata_sends_nothing(tmp_path, shop):
    fixture = tmp_path / "orders.json"
    fields = {"shop": shop.pk, "number": "L"}
    rows = [{"model": "model_events_app.order", "pk": 99, "fields": fields}]
    fixture.write_text(json.dumps(rows))
    call_command("loaddata", str(fixture), verbosity=0)
    assert Order.objects.filter(pk=99).exists()
    assert not Event.objects.exists()


# --- transactions --------------------------------------------------------------------


def test_rollback_leaves_nothing(shop):
    with pytest.raises(Abort), transaction.atomic():
        order = Order.objects.create(shop=shop, number="R-1")
        order.save()
        raise Abort
    assert not Order.objects.exists()
    assert not Event.objects.exists()


def test_several_saves_in_one_transaction_make_one_event_with_the_final_payload(shop):
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        order = Order.objects.create(shop=shop, number="C-1")
        for status in ("paid", "packed", "shipped"):
            order.status = status
            order.save()
    event = only_event()
    assert event.event_type == "order.created"  # created, then updated: still created
    assert event.payload == order_payload(order)
    assert event.payload["status"] == "shipped"
    # One INSERT, then one UPDATE per further save; no SELECT of the event. (On PostgreSQL
    # the INSERT is send_event's one statement, WITH e AS (INSERT …) INSERT … its outbox entry.)
    on_events = [q["sql"] for q in ctx.captured_queries if Event._meta.db_table in q["sql"]]
    kinds = [
        "INSERT" if sql.startswith("WITH e AS (INSERT") else sql.split()[0] for sql in on_events
    ]
    assert kinds == ["INSERT", "UPDATE", "UPDATE", "UPDATE"]


def test_updates_of_an_existing_object_coalesce_into_one_updated(shop):
    order = Order.objects.create(shop=shop, number="U-1")
    Event.objects.all().delete()
    with transaction.atomic():
        order.status = "paid"
        order.save()
        order.total = Decimal("3.00")
        order.save()
    event = only_event()
    assert event.event_type == "order.updated"
    assert (event.payload["status"], event.payload["total"]) == ("paid", "3.00")


def test_create_then_delete_in_one_transaction_sends_nothing(shop):
    with transaction.atomic():
        order = Order.objects.create(shop=shop, number="D-1")
        order.save()
        order.delete()
    assert not Event.objects.exists()


def test_update_then_delete_in_one_transaction_is_one_deleted(shop):
    order = Order.objects.create(shop=shop, number="D-2")
    pk = order.pk
    Event.objects.all().delete()
    with transaction.atomic():
        order.status = "cancelled"
        order.save()
        order.delete()
    event = only_event()
    assert event.event_type == "order.deleted"
    assert event.payload["id"] == pk
    assert event.payload["status"] == "cancelled"


def test_delete_then_create_again_in_one_transaction_is_one_updated(shop):
    order = Order.objects.create(shop=shop, number="D-3")
    pk = order.pk
    Event.objects.all().delete()
    with transaction.atomic():
        order.delete()
        Order.objects.create(pk=pk, shop=shop, number="D-3 again")
    event = only_event()
    assert event.event_type == "order.updated"
    assert event.payload["number"] == "D-3 again"


def test_queryset_delete_sends_one_event_per_object(shop):
    Order.objects.create(shop=shop, number="Q-1")
    Order.objects.create(shop=shop, number="Q-2")
    Event.objects.all().delete()
    shop.delete()  # cascades to its orders, whose signals are sent
    assert sorted(Event.objects.values_list("event_type", "payload__number")) == [
        ("order.deleted", "Q-1"),
        ("order.deleted", "Q-2"),
    ]


def test_autocommit_sends_one_event_per_save(shop):
    assert not connection.in_atomic_block
    order = Order.objects.create(shop=shop, number="A-1")
    order.save()
    order.save()
    assert sorted(Event.objects.values_list("event_type", flat=True)) == [
        "order.created",
        "order.updated",
        "order.updated",
    ]


def test_transactions_one_after_another_do_not_share_state(shop):
    with transaction.atomic():
        order = Order.objects.create(shop=shop, number="S-1")
    with transaction.atomic():
        order.save()
        order.save()
    assert sorted(Event.objects.values_list("event_type", flat=True)) == [
        "order.created",
        "order.updated",
    ]


def test_a_change_after_a_rolled_back_transaction_makes_its_own_event(shop):
    order = Order.objects.create(shop=shop, number="S-2")
    Event.objects.all().delete()
    with pytest.raises(Abort), transaction.atomic():
        order.save()
        raise Abort
    with transaction.atomic():
        order.status = "after"
        order.save()
    event = only_event()
    assert (event.event_type, event.payload["status"]) == ("order.updated", "after")


# --- savepoints ----------------------------------------------------------------------


def test_rolled_back_savepoint_reverts_the_payload_and_coalescing_goes_on(shop):
    with transaction.atomic():
        order = Order.objects.create(shop=shop, number="N-1", status="outer")
        with pytest.raises(Abort), transaction.atomic():
            order.status = "inner"
            order.save()
            raise Abort
        assert only_event().payload["status"] == "outer"
        order.refresh_from_db()
        order.total = Decimal("2.00")
        order.save()
    event = only_event()
    assert (event.event_type, event.payload["status"], event.payload["total"]) == (
        "order.created",
        "outer",
        "2.00",
    )


def test_rolled_back_savepoint_that_withdrew_the_event_brings_it_back(shop):
    """Created, then deleted in a savepoint that rolls back: the event row comes back,
    and so must the bookkeeping, or the next save would add an "updated" event."""
    with transaction.atomic():
        order = Order.objects.create(shop=shop, number="N-2")
        pk = order.pk
        with pytest.raises(Abort), transaction.atomic():
            order.delete()
            assert not Event.objects.exists()
            raise Abort
        order = Order.objects.get(pk=pk)
        order.status = "kept"
        order.save()
    event = only_event()
    assert (event.event_type, event.payload["status"]) == ("order.created", "kept")


def test_rolled_back_savepoint_that_created_the_event_leaves_nothing_behind(shop):
    order = Order.objects.create(shop=shop, number="N-3")
    Event.objects.all().delete()
    with transaction.atomic():
        with pytest.raises(Abort), transaction.atomic():
            order.status = "inner"
            order.save()
            raise Abort
        assert not Event.objects.exists()
        order.status = "outer"
        order.save()
        with pytest.raises(Abort), transaction.atomic():
            Order.objects.get(pk=order.pk).delete()  # updated -> deleted, undone
            raise Abort
        order.save()
    event = only_event()
    assert (event.event_type, event.payload["status"]) == ("order.updated", "outer")


def test_released_savepoints_coalesce_with_their_transaction(shop):
    with transaction.atomic():
        with transaction.atomic():
            order = Order.objects.create(shop=shop, number="N-4")
        with transaction.atomic():
            with transaction.atomic():
                order.status = "deep"
                order.save()
        order.total = Decimal("5.00")
        order.save()
    event = only_event()
    assert (event.event_type, event.payload["status"], event.payload["total"]) == (
        "order.created",
        "deep",
        "5.00",
    )


def test_error_in_the_serializer_rolls_the_change_back_even_if_caught(notes):
    model_events.unregister(Note)

    def refuse(note):
        raise Abort

    model_events.register(Note, events={"created": "note.created"}, serializer=refuse)
    with transaction.atomic():
        with pytest.raises(Abort):
            Note.objects.create(text="x")
        assert connection.needs_rollback
    assert not Note.objects.exists()
    assert not Event.objects.exists()


def test_an_event_fanned_out_inside_the_transaction_stands_and_later_changes_make_a_new_one(shop):
    with transaction.atomic():
        order = Order.objects.create(shop=shop, number="E-1")
        fanout.expand_event(only_event().pk)
        order.delete()
    assert sorted(Event.objects.values_list("event_type", flat=True)) == [
        "order.created",
        "order.deleted",
    ]


def test_payload_validation_applies_to_coalesced_updates(shop):
    with isolated_event_types(), override_settings(WEBHOOKS={"VALIDATE_PAYLOADS": True}):
        event_types.register(
            "order.created",
            schema={"type": "object", "properties": {"status": {"enum": ["new", "paid"]}}},
        )
        with pytest.raises(InvalidPayload), transaction.atomic():
            order = Order.objects.create(shop=shop, number="V-1")
            order.status = "bogus"
            order.save()
    assert not Order.objects.exists()
    assert not Event.objects.exists()


# --- registration --------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, message",
    [
        ({"events": NOTE_EVENTS}, "either serializer= or fields="),
        ({"events": NOTE_EVENTS, "serializer": dict, "fields": ["text"]}, "either"),
        ({"events": {}, "serializer": dict}, "map some of"),
        ({"events": {"saved": "note.saved"}, "serializer": dict}, "Unknown change 'saved'"),
        ({"events": {"created": "note created"}, "serializer": dict}, "not dot-separated"),
        ({"events": NOTE_EVENTS, "fields": ["nope"]}, "has no field 'nope'"),
        ({"events": NOTE_EVENTS, "fields": "text"}, "non-empty list"),
        ({"events": NOTE_EVENTS, "serializer": "text"}, "serializer class or a function"),
        ({"events": NOTE_EVENTS, "serializer": dict, "tenant": 3}, "attribute name or a function"),
    ],
)
def test_registration_mistakes_are_refused(options, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        model_events.register(Note, **options)
    assert model_events.get(Note) is None


def test_a_model_is_registered_once(notes):
    with pytest.raises(ImproperlyConfigured, match="already registered"):
        model_events.register(Note, events=NOTE_EVENTS, serializer=dict)


# --- end to end ----------------------------------------------------------------------


def test_one_delivery_per_coalesced_event_reaches_the_tenants_endpoint(
    shop, http_server, celery_worker
):
    Endpoint.objects.create(url=http_server.url("/acme"), tenant=str(shop.pk))
    other = Shop.objects.create(name="Other")
    Endpoint.objects.create(url=http_server.url("/other"), tenant=str(other.pk))

    with transaction.atomic():
        order = Order.objects.create(shop=shop, number="W-1")
        for status in ("paid", "packed"):
            order.status = status
            order.save()
        gone = Order.objects.create(shop=shop, number="W-2")
        gone.delete()
        assert http_server.requests == []
    event = only_event()
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 1)

    flush = send_event("flush", {}, tenant=shop)  # a later event: the worker is past ours
    wait_until(lambda: Delivery.objects.filter(event=flush, status="succeeded").exists())
    bodies = [r.json() for r in http_server.requests if r.headers["webhook-id"] == event.pk]
    assert len(bodies) == 1
    assert (bodies[0]["type"], bodies[0]["data"]) == ("order.created", order_payload(order))
    assert bodies[0]["data"]["status"] == "packed"
    assert {r.path for r in http_server.requests} == {"/acme"}
    assert len(http_server.requests) == 2
