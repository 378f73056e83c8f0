"""Small database helpers shared by the engine's writers."""

from __future__ import annotations

from django.db import connection


def take_write_lock() -> None:
    """On SQLite, take the database's write lock now, at the start of a transaction.

    A deferred SQLite transaction that reads first and writes later can fail
    with "database is locked" when another writer got in between; a no-op
    write up front makes it wait for its turn instead. Other databases lock
    rows, so nothing is done there.
    """
    if connection.vendor == "sqlite" and connection.in_atomic_block:
        from webhooks_app.models import Delivery

        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {Delivery._meta.db_table} SET id = id WHERE 0")  # noqa: S608
