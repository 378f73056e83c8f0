"""``send_event``'s statements, in SQL: the event and its outbox entry in one round trip.

Through the ORM, an event cost two ``INSERT``s (the event, its outbox entry),
and with an idempotency key a ``SELECT`` first and a savepoint around them.
Here, on PostgreSQL, it is one statement whose second ``INSERT`` reads the
first's ``RETURNING``::

    WITH e AS (INSERT INTO event … [ON CONFLICT (tenant, idempotency_key) DO NOTHING]
               RETURNING …)
    INSERT INTO outbox_entry … SELECT … FROM e

so the entry exists exactly when the event was written, and the statement's row
count says whether it was. An idempotency key its tenant used already writes
nothing, takes no savepoint and raises nothing: the caller then reads the
existing event (a second statement, only then). On SQLite, which has no
``INSERT`` in a ``WITH``, the entry is a second ``INSERT``, run only when the
first wrote the event.
"""

from __future__ import annotations

from typing import cast

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

from webhooks_app.models import Event, OutboxEntry

ENTRY_FIELDS = ("tenant", "ordering_key", "sequence", "created_at")
"""The event's fields that its outbox entry repeats, besides the event's id."""


def insert(event: Event, using: str) -> bool:
    """Write ``event`` (an instance not saved yet) and its outbox entry in database ``using``.

    Returns False, writing nothing, when the event has an idempotency key that
    its tenant used already. On success the instance is marked saved, as
    ``Event.objects.create`` leaves it.
    """
    connection = connections[using]
    keyed = event.idempotency_key is not None
    values = {
        field.name: field.get_db_prep_save(field.pre_save(event, True), connection)
        for field in Event._meta.concrete_fields
    }
    params = list(values.values())
    statements = _statements(connection, keyed)
    with connection.cursor() as cursor:
        if len(statements) == 1:  # PostgreSQL: the entry is written by the same statement
            cursor.execute(statements[0], params)
        else:
            cursor.execute(statements[0], params)
            if cursor.rowcount == 1:
                entry = [values[name] for name in ("id", *ENTRY_FIELDS)]
                cursor.execute(statements[1], entry)
        written = cursor.rowcount == 1
    if written:
        event._state.adding = False
        event._state.db = using
    return written


_cache: dict[tuple[str, bool], tuple[str, ...]] = {}


def _statements(connection: BaseDatabaseWrapper, keyed: bool) -> tuple[str, ...]:
    """The statements of :func:`insert` on this database (built once per vendor)."""
    key = (connection.vendor, keyed)
    if key not in _cache:
        _cache[key] = _build(connection, keyed)
    return _cache[key]


def _build(connection: BaseDatabaseWrapper, keyed: bool) -> tuple[str, ...]:
    quote = connection.ops.quote_name

    def column(model: type[Model], name: str) -> str:
        return quote(str(cast(Field, model._meta.get_field(name)).column))

    fields = Event._meta.concrete_fields
    columns = ", ".join(quote(str(field.column)) for field in fields)
    marks = ", ".join(["%s"] * len(fields))
    conflict = (
        f" ON CONFLICT ({column(Event, 'tenant')}, {column(Event, 'idempotency_key')}) DO NOTHING"
        if keyed
        else ""
    )
    table = quote(Event._meta.db_table)
    event = f"INSERT INTO {table} ({columns}) VALUES ({marks}){conflict}"  # noqa: S608 - names
    entry = (
        f"INSERT INTO {quote(OutboxEntry._meta.db_table)}"
        f" ({', '.join(column(OutboxEntry, name) for name in ('event', *ENTRY_FIELDS))})"
    )
    if connection.vendor == "postgresql":
        source = ", ".join(column(Event, name) for name in ("id", *ENTRY_FIELDS))
        return (f"WITH e AS ({event} RETURNING {source}) {entry} SELECT {source} FROM e",)  # noqa: S608
    return event, f"{entry} VALUES ({', '.join(['%s'] * (1 + len(ENTRY_FIELDS)))})"
