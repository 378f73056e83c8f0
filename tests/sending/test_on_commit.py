"""The adapter over Django's private on-commit list (webhooks_app.sending.on_commit).

Model events and the outbox's one wake-up per transaction rely on it; it reads
``connection.run_on_commit``, whose shape is Django's to change. These tests drive
it through public Django only (atomic blocks, savepoints, ``on_commit``), so that a
change in Django fails here first: run them on every supported Django.
"""

from __future__ import annotations

import gc
import weakref

import pytest
from django.db import transaction

from webhooks_app.sending import on_commit

pytestmark = pytest.mark.django_db(transaction=True)


class Abort(Exception):
    pass


def callback() -> None:
    pass


def test_a_remembered_value_is_recalled_and_superseded():
    with transaction.atomic():
        assert on_commit.recall("order-1") is None
        on_commit.remember("order-1", "created")
        on_commit.remember("order-2", "deleted")
        assert on_commit.recall("order-1") == "created"
        on_commit.remember("order-1", "updated")
        assert on_commit.recall("order-1") == "updated"
        assert on_commit.recall("order-2") == "deleted"


def test_a_rolled_back_savepoint_takes_its_values_and_the_earlier_one_is_found_again():
    with transaction.atomic():
        on_commit.remember("order-1", "created")
        with pytest.raises(Abort), transaction.atomic():
            on_commit.remember("order-1", "deleted")
            on_commit.remember("order-2", "created")
            assert on_commit.recall("order-1") == "deleted"
            raise Abort
        assert on_commit.recall("order-1") == "created"
        assert on_commit.recall("order-2") is None
        on_commit.remember("order-2", "updated")  # the index goes on
        assert on_commit.recall("order-2") == "updated"


def test_a_list_changed_in_place_is_read_again():
    """Django makes a new list when a savepoint rolls back; should it one day filter the
    same list instead, positions move under the index, which must notice and read it again.
    (The one test that touches the private list: it plays that future Django.)"""
    connection = transaction.get_connection()
    with transaction.atomic():
        on_commit.remember("order-1", "created")
        before_the_savepoint = list(connection.run_on_commit)
        on_commit.remember("order-1", "deleted")
        connection.run_on_commit[:] = before_the_savepoint  # the savepoint rolled back
        assert on_commit.recall("order-1") == "created"


def test_a_nested_savepoint_rolled_back_keeps_what_its_parent_remembered():
    with transaction.atomic():
        with transaction.atomic():
            on_commit.remember("order-1", "created")
            with pytest.raises(Abort), transaction.atomic():
                on_commit.remember("order-1", "updated")
                raise Abort
            assert on_commit.recall("order-1") == "created"
        assert on_commit.recall("order-1") == "created"  # released: kept


def test_values_end_with_their_transaction_committed_or_rolled_back():
    with transaction.atomic():
        on_commit.remember("order-1", "created")
    with transaction.atomic():
        assert on_commit.recall("order-1") is None
        on_commit.remember("order-1", "updated")
        transaction.set_rollback(True)
    with transaction.atomic():
        assert on_commit.recall("order-1") is None


def test_values_of_a_finished_transaction_are_not_kept_alive():
    """One process runs transactions for days: the index must not keep their values."""

    class State:
        pass

    state = State()
    alive = weakref.ref(state)
    with transaction.atomic():
        on_commit.remember("order-1", state)
    del state
    with transaction.atomic():
        on_commit.remember("order-2", "created")  # the next transaction's own index
        gc.collect()
        assert alive() is None


def test_nothing_is_remembered_outside_an_atomic_block():
    on_commit.remember("order-1", "created")
    assert on_commit.recall("order-1") is None
    with transaction.atomic():
        assert on_commit.recall("order-1") is None


def test_markers_run_harmlessly_on_commit_among_other_callbacks():
    ran = []
    with transaction.atomic():
        transaction.on_commit(lambda: ran.append("first"))
        on_commit.remember("order-1", "created")
        transaction.on_commit(lambda: ran.append("last"))
        assert ran == []
    assert ran == ["first", "last"]


def test_a_registered_callback_is_seen_until_its_savepoint_rolls_back():
    assert not on_commit.registered(callback)  # autocommit: nothing waits
    with transaction.atomic():
        assert not on_commit.registered(callback)
        with pytest.raises(Abort), transaction.atomic():
            transaction.on_commit(callback)
            assert on_commit.registered(callback)
            raise Abort
        assert not on_commit.registered(callback)
        transaction.on_commit(callback, robust=True)
        assert on_commit.registered(callback)
    with transaction.atomic():
        assert not on_commit.registered(callback)
