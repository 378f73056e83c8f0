"""The receiver's hot statements, in SQL.

Through the ORM, recording an event took an ``INSERT`` in a transaction (three
round trips), and a copy of it five (the failed ``INSERT``, its rollback, an
``UPDATE`` of the duplicate count and a ``SELECT``); the claim before the
handler runs was an ``UPDATE`` and a ``SELECT … FOR UPDATE``. On PostgreSQL and
SQLite (3.35 and later), the databases the app runs on (system check
``webhooks_app.E005``), each is one statement here:

- :func:`upsert`: ``INSERT … ON CONFLICT (source, event_id) DO UPDATE`` adds
  one to the duplicate count of an existing row, and ``RETURNING`` gives the
  row either way, so a new event and a copy cost one round trip each; the
  unique constraint still decides which copy created the row;
- :func:`count_processed_copy`: a copy of an event processed already (a
  sender's retry, the commonest duplicate) is counted by one ``UPDATE …
  RETURNING`` in autocommit mode, with no transaction around it; it matches
  nothing for any other request, which then costs one statement more
  (:mod:`~webhooks_app.receivers.copy_rate` says when it is worth it).

On PostgreSQL the count of a copy of a processed event commits asynchronously,
whichever statement makes it (``synchronous_commit`` off for that transaction
alone: a crash of the database server may forget the last few counts, never
an event or its processing);
- :func:`claim`: ``UPDATE … RETURNING`` counts the processing attempt of an
  event not processed yet, locks its row and returns it;
- :func:`upsert_failure` and :func:`fail`: a failed handler's transaction rolls
  back whole (the handler runs in no savepoint), so its failure is written
  after it, by one statement in autocommit mode: the row again if it went
  with the rollback, else the failure on the row, unless a concurrent copy
  has processed the event in the meantime.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from django.db import connection
from django.db.models import Field

from webhooks_app.db import rows
from webhooks_app.models import InboundEvent

PROCESSED = InboundEvent.Status.PROCESSED.value
_FAILED = InboundEvent.Status.FAILED.value


def _field(name: str) -> Field:
    return cast(Field, InboundEvent._meta.get_field(name))


def _column(name: str) -> str:
    return connection.ops.quote_name(str(_field(name).column))


def upsert(values: dict[str, Any]) -> tuple[InboundEvent, bool]:
    """Insert the event, or count one more copy of it; return ``(event, created)``.

    ``values`` holds every concrete field but the primary key. A new row has
    a duplicate count of 0 and an existing one at least 1 after the update, so
    the count says which happened.
    """
    params = [field.get_db_prep_save(values[field.name], connection) for field in _inserted()]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(connection.vendor), params)
        event = rows.instance(InboundEvent, cursor.fetchone())
    return event, event.duplicate_count == 0


def count_processed_copy(source: str, event_id: str) -> InboundEvent | None:
    """Count a copy of an event processed already, and return it; None for any other.

    For an event not stored yet, or not processed, it matches no row: nothing is
    written, and the caller goes on to :func:`upsert`. A row being processed by
    an open transaction is not processed yet for this statement either.
    """
    with connection.cursor() as cursor:
        cursor.execute(_copy_sql(connection.vendor), [source, event_id, PROCESSED])
        row = cursor.fetchone()
    return rows.instance(InboundEvent, row) if row else None


def claim(event_pk: int) -> InboundEvent | None:
    """Count a processing attempt and lock the row, unless the event is processed.

    Returns the event as it is now (``processing_attempts`` counted), or None
    when it is processed already. A concurrent claim waits for the row's lock
    and then, seeing the event processed, returns None.
    """
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(connection.vendor), [event_pk, PROCESSED])
        row = cursor.fetchone()
    return rows.instance(InboundEvent, row) if row else None


def upsert_failure(values: dict[str, Any]) -> InboundEvent:
    """Insert the event as failed, or write the failure on its row; return the row.

    ``values`` are :func:`upsert`'s, with the status, error and one processing
    attempt of the failure. An existing row counts one more copy and one more
    attempt, and keeps ``processed`` if a concurrent copy processed the event.
    """
    params = [field.get_db_prep_save(values[field.name], connection) for field in _inserted()]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_failure_sql(connection.vendor), params)
        return rows.instance(InboundEvent, cursor.fetchone())


def fail(event_pk: int, error: str) -> InboundEvent | None:
    """Count a failed processing attempt and write its error, unless the event is processed
    (by a concurrent copy since); return the row, or None if it is gone."""
    with connection.cursor() as cursor:
        cursor.execute(_fail_sql(connection.vendor), [error, event_pk])
        row = cursor.fetchone()
    return rows.instance(InboundEvent, row) if row else None


def finish(event: InboundEvent) -> None:
    """Write the outcome of processing: status, error, attempts and processed time.

    Plain SQL any database runs, without the ORM's cost of building the statement.
    """
    params = [
        field.get_db_prep_save(getattr(event, field.attname), connection) for field in _FINISHED
    ]
    with connection.cursor() as cursor:
        cursor.execute(_finish_sql(connection.vendor), [*params, event.pk])


# -- the statements, built once per database vendor (names are quoted per vendor) --------

_FINISHED = [_field(name) for name in ("status", "error", "processing_attempts", "processed_at")]


def _inserted() -> list[Any]:
    return [field for field in InboundEvent._meta.concrete_fields if not field.primary_key]


@functools.cache
def _upsert_sql(vendor: str) -> str:
    table = rows.table(InboundEvent)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in _inserted())
    marks = ", ".join(["%s"] * len(_inserted()))
    count = _column("duplicate_count")
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) "  # noqa: S608 - names, not values
        f"ON CONFLICT ({_column('source')}, {_column('event_id')}) "
        f"DO UPDATE SET {count} = {table}.{count} + 1 {_asynchronous_if_processed(vendor)}"
        f"RETURNING {rows.select_list(InboundEvent, table)}"
    )


def _asynchronous_if_processed(vendor: str) -> str:
    """PostgreSQL: a copy of a processed event commits without waiting for the WAL flush.

    Its count is bookkeeping: ``synchronous_commit`` is turned off for this
    transaction only (a crash of PostgreSQL may forget the last few counts,
    never an event or its outcome). A ``WHERE`` of the conflict's update that
    is always true, so that it runs only for a row already there.
    """
    if vendor != "postgresql":
        return ""
    table = rows.table(InboundEvent)
    return (
        f"WHERE {table}.{_column('status')} <> '{PROCESSED}' "
        "OR set_config('synchronous_commit', 'off', true) = 'off' "
    )


def _failure_assignments(target: str, error: str) -> str:
    """SET clause of a failed attempt: one more attempt; status and error unless processed."""
    status, error_column = _column("status"), _column("error")
    attempts = _column("processing_attempts")
    processed = f"{target}.{status} = '{PROCESSED}'"
    return (
        f"{attempts} = {target}.{attempts} + 1, "
        f"{status} = CASE WHEN {processed} THEN {target}.{status} ELSE '{_FAILED}' END, "
        f"{error_column} = CASE WHEN {processed} THEN {target}.{error_column} ELSE {error} END"
    )


@functools.cache
def _upsert_failure_sql(vendor: str) -> str:
    table = rows.table(InboundEvent)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in _inserted())
    marks = ", ".join(["%s"] * len(_inserted()))
    count = _column("duplicate_count")
    failure = _failure_assignments(table, f"excluded.{_column('error')}")
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) "  # noqa: S608 - names, not values
        f"ON CONFLICT ({_column('source')}, {_column('event_id')}) "
        f"DO UPDATE SET {count} = {table}.{count} + 1, {failure} "
        f"RETURNING {rows.select_list(InboundEvent, table)}"
    )


@functools.cache
def _fail_sql(vendor: str) -> str:
    table = rows.table(InboundEvent)
    return (
        f"UPDATE {table} SET {_failure_assignments(table, '%s')} "  # noqa: S608 - names
        f"WHERE {_column('id')} = %s "
        f"RETURNING {rows.select_list(InboundEvent, table)}"
    )


@functools.cache
def _copy_sql(vendor: str) -> str:
    table = rows.table(InboundEvent)
    count = _column("duplicate_count")
    asynchronous = (
        "AND set_config('synchronous_commit', 'off', true) = 'off' "
        if vendor == "postgresql"
        else ""
    )
    return (
        f"UPDATE {table} SET {count} = {count} + 1 "  # noqa: S608 - names, not values
        f"WHERE {_column('source')} = %s AND {_column('event_id')} = %s "
        f"AND {_column('status')} = %s {asynchronous}"
        f"RETURNING {rows.select_list(InboundEvent, table)}"
    )


@functools.cache
def _claim_sql(vendor: str) -> str:
    table = rows.table(InboundEvent)
    attempts, status, pk = _column("processing_attempts"), _column("status"), _column("id")
    return (
        f"UPDATE {table} SET {attempts} = {attempts} + 1 "  # noqa: S608 - names, not values
        f"WHERE {pk} = %s AND {status} <> %s "
        f"RETURNING {rows.select_list(InboundEvent, table)}"
    )


@functools.cache
def _finish_sql(vendor: str) -> str:
    assignments = ", ".join(
        f"{connection.ops.quote_name(str(field.column))} = %s" for field in _FINISHED
    )
    return f"UPDATE {rows.table(InboundEvent)} SET {assignments} WHERE {_column('id')} = %s"  # noqa: S608
