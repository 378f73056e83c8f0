"""The receiver's SQL per request on PostgreSQL: a regression here is a slower receiver.

Every round trip counts (``BEGIN``, savepoints and ``COMMIT`` included), since
``benchmarks/receiver_speed.py`` measures the receiver against a hand-written
view that takes seven for a new event and three for a copy.
"""

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.receivers import STANDARD_SECRET, behaviour
from webhooks_app.models import InboundEvent
from webhooks_app.receivers import processing
from webhooks_app.testing import WebhookClient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="counts PostgreSQL's statements"),
]

# The handler of tests.receivers.StandardReceiver writes one row: the second INSERT.
NEW_EVENT = [
    "BEGIN",
    "INSERT",  # ... ON CONFLICT DO UPDATE ... RETURNING: the row, locked until COMMIT
    "INSERT",  # the handler's row, in the same transaction (no savepoint)
    "UPDATE",  # processed
    "COMMIT",
]
# The upsert counts the copy and finds it processed; the COMMIT does not wait for the disk.
COPY_OF_A_PROCESSED_EVENT = ["BEGIN", "INSERT", "COMMIT"]
# Once copies are frequent for the source: one UPDATE in autocommit mode counts a copy...
CHECKED_COPY = ["UPDATE"]
# ... and a new event costs that UPDATE (matching nothing) more.
CHECKED_NEW_EVENT = ["UPDATE", *NEW_EVENT]
# The same as a new event: the upsert counts the copy and locks the row.
RETRY_OF_A_FAILED_EVENT = NEW_EVENT
# A failed handler: the transaction rolls back (the handler's row and the event's), then
# one INSERT ... ON CONFLICT in autocommit mode records the failure.
FAILED_EVENT = [*NEW_EVENT[:3], "ROLLBACK", "INSERT"]
# process() (process_async, reprocessing): the claim locks the committed row.
PROCESSED_LATER = ["BEGIN", "UPDATE", "INSERT", "UPDATE", "COMMIT"]
FAILED_LATER = ["BEGIN", "UPDATE", "INSERT", "ROLLBACK", "UPDATE"]


@pytest.fixture(autouse=True)
def _reset_behaviour():
    behaviour.reset()
    yield
    behaviour.reset()


def first_words(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"].split(None, 1)[0].upper() for query in captured]


def statements(payload: dict, msg_id: str = "msg_q") -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = WebhookClient().post_standard_webhooks(
            "/hooks/standard/", payload, secret=STANDARD_SECRET, msg_id=msg_id
        )
    return response.status_code, first_words(captured)


def test_a_new_event_and_its_copy_take_five_statements_and_three():
    assert statements({"type": "order.paid"}) == (200, NEW_EVENT)
    assert statements({"type": "order.paid"}) == (200, COPY_OF_A_PROCESSED_EVENT)
    event = InboundEvent.objects.get()
    assert (event.status, event.duplicate_count, event.processing_attempts) == ("processed", 1, 1)


def test_a_new_event_takes_five_statements_with_django_assert_num_queries(
    django_assert_num_queries,
):
    with django_assert_num_queries(len(NEW_EVENT)):
        response = WebhookClient().post_standard_webhooks(
            "/hooks/standard/", {"type": "order.paid"}, secret=STANDARD_SECRET, msg_id="msg_n"
        )
    assert response.status_code == 200


def test_copies_of_processed_events_take_one_statement_once_they_are_frequent():
    assert statements({"type": "order.paid"}, "msg_c") == (200, NEW_EVENT)
    seen = [statements({"type": "order.paid"}, "msg_c")[1] for _ in range(8)]
    assert seen[0] == COPY_OF_A_PROCESSED_EVENT
    assert seen[-1] == CHECKED_COPY
    assert statements({"type": "order.paid"}, "msg_d") == (200, CHECKED_NEW_EVENT)
    for n in range(16):  # new events only: the check goes away again
        statements({"type": "order.paid"}, f"msg_n{n}")
    assert statements({"type": "order.paid"}, "msg_e") == (200, NEW_EVENT)
    event = InboundEvent.objects.get(event_id="msg_c")
    assert (event.status, event.duplicate_count, event.processing_attempts) == ("processed", 8, 1)


def test_a_failed_event_and_its_retry_take_five_statements_each():
    behaviour.fail_times = 1
    status, failed = statements({"type": "order.paid"})
    assert status == 500
    assert failed == FAILED_EVENT
    event = InboundEvent.objects.get()
    assert (event.status, event.duplicate_count, event.processing_attempts) == ("failed", 0, 1)
    assert statements({"type": "order.paid"}) == (200, RETRY_OF_A_FAILED_EVENT)
    event = InboundEvent.objects.get()
    assert (event.status, event.duplicate_count, event.processing_attempts) == ("processed", 1, 2)


def test_processing_a_recorded_event_takes_five_statements_and_five_when_it_fails():
    event, _created = processing.record(
        "async", "evt_q", event_type="t", payload={}, headers={}, receiver=""
    )
    runs = []

    def handler(event: InboundEvent) -> None:
        runs.append(event.pk)
        Group.objects.create(name=f"run {len(runs)}")
        if len(runs) == 1:
            raise RuntimeError("failed on purpose")

    with CaptureQueriesContext(connection) as failed:
        assert processing.process(event.pk, handler).outcome == "failed"
    with CaptureQueriesContext(connection) as processed:
        assert processing.process(event.pk, handler).outcome == "processed"
    assert (first_words(failed), first_words(processed)) == (FAILED_LATER, PROCESSED_LATER)
    event.refresh_from_db()
    assert (event.status, event.processing_attempts) == ("processed", 2)
    assert list(Group.objects.values_list("name", flat=True)) == ["run 2"]


def synchronous_commit_after_recording(event_id: str) -> str:
    with transaction.atomic():
        processing.record("async", event_id, event_type="t", payload={}, headers={})
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]


def test_only_a_copy_of_a_processed_event_commits_without_waiting_for_the_disk():
    assert synchronous_commit_after_recording("evt_s") == "on"  # new
    assert synchronous_commit_after_recording("evt_s") == "on"  # a copy, not processed yet
    event = InboundEvent.objects.get()
    assert processing.process(event.pk, lambda event: None).outcome == "processed"
    assert synchronous_commit_after_recording("evt_s") == "off"  # a copy of a processed one
    with connection.cursor() as cursor:  # for that transaction only
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    assert InboundEvent.objects.get().duplicate_count == 2
