"""send_event: the transactional outbox."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.conftest import wait_until
from webhooks_app import send_event
from webhooks_app.models import Delivery, Endpoint, Event, OutboxEntry
from webhooks_app.sending import fanout

pytestmark = pytest.mark.django_db(transaction=True)


def test_endpoint_alone_is_a_working_endpoint():
    endpoint = Endpoint.objects.create(url="https://example.invalid/hook")
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.event_types == []
    assert endpoint.accepts("anything.at.all")


def test_records_event_and_one_delivery_per_matching_endpoint():
    everything = Endpoint.objects.create(url="https://a.invalid/")
    orders = Endpoint.objects.create(url="https://b.invalid/", event_types=["order.paid"])
    wildcard = Endpoint.objects.create(url="https://c.invalid/", event_types=["order.*"])
    users = Endpoint.objects.create(url="https://d.invalid/", event_types=["user.created"])
    Endpoint.objects.create(url="https://e.invalid/", is_active=False)

    event = send_event("order.paid", {"order_id": 42})
    assert not Delivery.objects.exists()  # the caller's transaction wrote the event alone
    assert fanout.expand_pending() == 1
    assert fanout.expand_pending() == 0  # once only

    assert Event.objects.get().payload == {"order_id": 42}
    assert not OutboxEntry.objects.exists()  # marked fanned out: its outbox entry is gone
    targets = set(Delivery.objects.filter(event=event).values_list("endpoint", flat=True))
    assert targets == {everything.pk, orders.pk, wildcard.pk}
    assert users.pk not in targets
    assert all(
        d.status == "pending" and d.attempt_count == 0 and d.next_attempt_at is not None
        for d in Delivery.objects.all()
    )


def test_query_count_does_not_grow_with_endpoints():
    def queries_for_send() -> int:
        """Queries send_event runs in the caller's transaction (not its BEGIN and COMMIT)."""
        with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
            send_event("order.paid", {})
        return len(ctx.captured_queries)

    Endpoint.objects.create(url="https://a.invalid/")
    with_one = queries_for_send()
    Endpoint.objects.bulk_create(Endpoint(url=f"https://{i}.invalid/") for i in range(300))
    with_many = queries_for_send()
    assert with_many == with_one <= 2
    assert not Delivery.objects.exists()
    fanout.expand_pending()  # to the endpoints active now, for both events
    assert Delivery.objects.count() == 2 * 301


def test_rolled_back_transaction_sends_nothing(http_server, celery_worker):
    Endpoint.objects.create(url=http_server.url())

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        send_event("order.paid", {"order_id": 1})
        raise Abort

    send_event("order.paid", {"order_id": 2})  # a committed one, to know the worker ran
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 1)
    assert [r.json()["data"] for r in http_server.requests] == [{"order_id": 2}]
    assert Event.objects.count() == 1


def test_deliveries_are_enqueued_only_on_commit(http_server, celery_worker):
    Endpoint.objects.create(url=http_server.url())
    with transaction.atomic():
        send_event("order.paid", {"order_id": 1})
        # The worker is running, but nothing is sent before the commit.
        assert http_server.requests == []
        assert not Delivery.objects.exclude(status="pending").exists()
    http_server.wait_for(1)


def test_idempotency_key_returns_existing_event_and_sends_nothing_new(http_server, celery_worker):
    Endpoint.objects.create(url=http_server.url())
    first = send_event("order.paid", {"order_id": 42}, idempotency_key="order-42-paid")
    again = send_event("order.paid", {"order_id": 42}, idempotency_key="order-42-paid")

    assert again.pk == first.pk
    assert Event.objects.count() == 1
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 1)
    assert Delivery.objects.count() == 1
    send_event("order.shipped", {"order_id": 42})  # a later event, to flush the worker
    wait_until(lambda: len(http_server.requests) == 2)
    ids = [r.headers["webhook-id"] for r in http_server.requests]
    assert ids.count(str(first.pk)) == 1


def test_different_idempotency_keys_make_different_events():
    a = send_event("order.paid", {}, idempotency_key="a")
    b = send_event("order.paid", {}, idempotency_key="b")
    c = send_event("order.paid", {})
    d = send_event("order.paid", {})
    assert len({a.pk, b.pk, c.pk, d.pk}) == 4


def test_fan_out_delivers_to_each_matching_endpoint(http_server, celery_worker):
    Endpoint.objects.create(url=http_server.url("/all"))
    Endpoint.objects.create(url=http_server.url("/orders"), event_types=["order.paid"])
    Endpoint.objects.create(url=http_server.url("/users"), event_types=["user.created"])

    event = send_event("order.paid", {"order_id": 7})

    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 2)
    assert sorted(r.path for r in http_server.requests) == ["/all", "/orders"]
    assert {r.headers["webhook-id"] for r in http_server.requests} == {str(event.id)}


def test_event_ids_are_prefixed_and_url_safe():
    event = send_event("order.paid", {})
    assert event.id.startswith("msg_")
    assert event.id.replace("_", "").isalnum()


def test_concurrent_calls_with_one_idempotency_key_make_one_event():
    import threading

    Endpoint.objects.create(url="https://a.invalid/")
    barrier = threading.Barrier(8)
    results, errors = [], []

    def call():
        try:
            barrier.wait(timeout=10)
            results.append(send_event("order.paid", {}, idempotency_key="same").pk)
        except Exception as exc:  # recorded, so the assertion below shows it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(results) == 8 and len(set(results)) == 1
    fanout.expand_pending()
    assert Event.objects.count() == 1 and Delivery.objects.count() == 1


def test_one_wake_up_per_committed_transaction(django_capture_on_commit_callbacks, broker):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for n in range(100):
            send_event("order.paid", {"n": n})
    assert broker.names() == ["webhooks_app.tasks.deliver_due"]
    send_event("order.paid", {})  # autocommit: a transaction of its own
    assert broker.names() == ["webhooks_app.tasks.deliver_due"]


def test_a_rolled_back_savepoint_does_not_take_the_wake_up_of_the_rest(
    django_capture_on_commit_callbacks, broker
):
    """The wake-up registered inside a savepoint that rolls back is forgotten by
    Django; the next event in the outer transaction must register its own."""

    class Abort(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        with pytest.raises(Abort), transaction.atomic():
            send_event("order.paid", {"rolled": "back"})
            raise Abort
        send_event("order.paid", {"kept": True})
    assert broker.names() == ["webhooks_app.tasks.deliver_due"]
    assert list(Event.objects.values_list("payload", flat=True)) == [{"kept": True}]


def test_fan_out_is_bounded_per_transaction(monkeypatch):
    """10 events x 30 endpoints with a 100-row budget: several transactions, all written."""
    monkeypatch.setattr(fanout, "ROWS_PER_TRANSACTION", 100)
    Endpoint.objects.bulk_create(Endpoint(url=f"https://{i}.invalid/") for i in range(30))
    for n in range(10):
        send_event("order.paid", {"n": n})
    assert fanout.expand_pending() == 10
    assert Delivery.objects.count() == 300


def test_an_endpoint_with_unusable_event_types_is_skipped_not_fatal():
    Endpoint.objects.create(url="https://ok.invalid/")
    broken = Endpoint.objects.create(url="https://broken.invalid/")
    Endpoint.objects.filter(pk=broken.pk).update(event_types=[1, None])
    send_event("order.paid", {})
    fanout.expand_pending()
    assert list(Delivery.objects.values_list("endpoint__url", flat=True)) == ["https://ok.invalid/"]


# --- a lean send_event: its statements, pinned on each database ----------------------------------


def statements_of(call) -> list[str]:
    """The SQL that ``call`` runs inside a transaction (not its BEGIN and COMMIT)."""
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        call()
    return [query["sql"] for query in ctx.captured_queries]


ONE_ROUND_TRIP = 1 if connection.vendor == "postgresql" else 2
"""Statements for a new event: one on PostgreSQL (a CTE), two INSERTs on SQLite."""


def test_a_new_event_is_one_statement_on_postgresql_two_inserts_elsewhere():
    Endpoint.objects.bulk_create(Endpoint(url=f"https://{i}.invalid/") for i in range(50))
    sql = statements_of(lambda: send_event("order.paid", {"n": 1}))
    assert len(sql) == ONE_ROUND_TRIP
    assert all(statement.lstrip().upper().startswith(("INSERT", "WITH")) for statement in sql)
    assert "SAVEPOINT" not in " ".join(sql).upper()
    assert OutboxEntry.objects.count() == Event.objects.count() == 1


def test_an_idempotency_key_costs_no_more_statements_and_no_savepoint():
    Endpoint.objects.bulk_create(Endpoint(url=f"https://{i}.invalid/") for i in range(50))
    new = statements_of(lambda: send_event("order.paid", {}, idempotency_key="k"))
    used = statements_of(lambda: send_event("order.paid", {}, idempotency_key="k"))
    assert len(new) == ONE_ROUND_TRIP
    assert len(used) == 2  # the INSERT that wrote nothing, and the SELECT of the existing one
    assert "SAVEPOINT" not in " ".join(new + used).upper()
    assert OutboxEntry.objects.count() == Event.objects.count() == 1


def test_the_returned_event_is_a_saved_model_instance_like_the_stored_row():
    event = send_event(
        "order.paid",
        {"n": 1},
        tenant="acme",
        idempotency_key="k",
        ordering_key="order-1",
    )
    stored = Event.objects.get()
    assert isinstance(event, Event)
    assert not event._state.adding and event._state.db == "default"
    names = [field.attname for field in Event._meta.concrete_fields]
    assert [getattr(event, name) for name in names] == [getattr(stored, name) for name in names]
    assert send_event("order.paid", {"n": 1}, tenant="acme", idempotency_key="k") == event
    with pytest.raises(ValueError, match="immutable"):
        event.save()
    entry = OutboxEntry.objects.get()
    assert (entry.pk, entry.tenant, entry.ordering_key, entry.sequence, entry.created_at) == (
        event.pk,
        "acme",
        "order-1",
        event.sequence,
        event.created_at,
    )


def test_a_used_idempotency_key_with_an_ordering_key_returns_the_first_event():
    first = send_event("order.paid", {}, idempotency_key="k", ordering_key="a")
    again = send_event("order.paid", {}, idempotency_key="k", ordering_key="b")
    assert again.pk == first.pk and again.ordering_key == "a"
    assert OutboxEntry.objects.count() == 1


def test_the_same_idempotency_key_for_another_tenant_is_another_event():
    ours = send_event("order.paid", {}, idempotency_key="k")
    theirs = send_event("order.paid", {}, tenant="acme", idempotency_key="k")
    assert ours.pk != theirs.pk
    assert OutboxEntry.objects.count() == 2


def test_a_used_idempotency_key_sends_no_wake_up(broker):
    send_event("order.paid", {}, idempotency_key="k")
    assert broker.names() == ["webhooks_app.tasks.deliver_due"]
    send_event("order.paid", {}, idempotency_key="k")  # nothing new: nothing to wake for
    assert broker.names() == []
