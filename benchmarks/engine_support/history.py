"""A database with history: N old deliveries with their events and attempts, kept as a template.

The shape is a SaaS a couple of months into production: ``TENANTS`` customers
with ``ENDPOINTS_PER_TENANT`` endpoints each (a tenth of them disabled), one
event per two deliveries spread evenly over the last ``SPAN_DAYS`` days, a
tenth of the events with an ordering key. Of the deliveries, about 94 % have
succeeded (a tenth of them after a retry or two), 5 % have failed (half at
once on a 4xx, half after all 8 tries on 5xx answers), and 1 % are still
pending: retries of the last two days, due between one hour and two days from
now, so none of them is claimable during a benchmark. Every try has its
Attempt. None of these endpoints shares a tenant with the benchmark's own, so
new events never fan out to them.

Loading runs in SQL (``INSERT … SELECT`` over ``generate_series``, then
``VACUUM (ANALYZE)``) and still takes minutes for a million deliveries, so the
loaded database is kept as a template and each measurement works on a fresh
``CREATE DATABASE … TEMPLATE`` copy of it. A template is reused, across rounds
and across runs, while its fingerprint (the size, this loader's version and
the migrations it was built with) matches; it is rebuilt otherwise. An empty
template (migrated, no rows) is kept the same way, so that both sides of a
comparison start from a fresh copy.

PostgreSQL only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from benchmarks.engine_support import services

LOADER_VERSION = 1
"""Raised whenever the data's shape changes, so that older templates are rebuilt."""

TENANTS = 100
ENDPOINTS_PER_TENANT = 2
DISABLED_EVERY = 10  # one endpoint in 10 is disabled (its history stays)
SPAN_DAYS = 60
RECENT_DAYS = 2  # retries still pending are all of events this recent
KEYED_EVERY = 10  # one event in 10 has an ordering key
PAYLOAD_NOTE = 400  # characters of padding: events of about 500 bytes
SCHEDULE = (0, 5, 305, 2105, 9305, 27305, 63305, 99305)  # default RETRY_SCHEDULE, cumulated
TENANT_PREFIX = "hist-"


@dataclass(frozen=True)
class Templates:
    """The names of the two template databases of one size."""

    empty: str
    history: str


def template_names(base_url: str, deliveries: int) -> Templates:
    """Templates named after the benchmark's scratch database (``webhooks_bench``)."""
    base = database_name(base_url)
    return Templates(empty=f"{base}_tpl_empty", history=f"{base}_tpl_history_{deliveries}")


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def with_name(url: str, name: str) -> str:
    """``url`` with another database name."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


# -- templates --------------------------------------------------------------------------------


def ensure_templates(
    url: str, deliveries: int, *, rebuild: bool = False, log: Callable[[str], None] = print
) -> tuple[Templates, dict[str, float]]:
    """Both templates, built when missing, stale or ``rebuild``; returns their names and the
    seconds each build took (empty when both were reused)."""
    names = template_names(url, deliveries)
    took: dict[str, float] = {}
    for name, size in ((names.empty, 0), (names.history, deliveries)):
        wanted = fingerprint(size)
        if not rebuild and services.database_comment(url, name) == wanted:
            continue
        log(f"building template {name} ({size:,} deliveries) ...")
        started = time.monotonic()
        build(url, name, size)
        services.set_database_comment(url, name, wanted)
        took[name] = time.monotonic() - started
        log(f"built {name} in {took[name]:.0f} s")
    return names, took


def fingerprint(deliveries: int) -> str:
    """What a template was built from: size, loader version and the migrations applied,
    their text included (a migration edited in place while it is unreleased counts too)."""
    import hashlib
    import inspect

    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None)
    leaves = sorted(f"{app}.{name}" for app, name in loader.graph.leaf_nodes())
    text = hashlib.sha256()
    for key in sorted(loader.disk_migrations):
        text.update(inspect.getsource(inspect.getmodule(loader.disk_migrations[key])).encode())
    return (
        f"webhooks_app history: {deliveries} deliveries; loader {LOADER_VERSION}; "
        f"{', '.join(leaves)}; migrations {text.hexdigest()[:16]}"
    )


def build(url: str, name: str, deliveries: int) -> None:
    """Create ``name`` from scratch: migrate it, load ``deliveries`` of history, analyze."""
    building = f"{name}_building"
    services.recreate_database(with_name(url, building))
    with using(building):
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        if deliveries:
            load(deliveries)
    services.drop_database(url, name)
    services.rename_database(url, building, name)


@contextmanager
def copy_of(url: str, template: str, name: str) -> Iterator[str]:
    """A fresh copy of ``template`` named ``name``, Django's connection pointed at it; dropped
    afterwards. Yields the copy's URL (for the worker)."""
    services.copy_database(url, template, name)
    try:
        with using(name):
            _postpone_pending()
            yield with_name(url, name)
    finally:
        services.drop_database(url, name)


def _postpone_pending() -> None:
    """Move the pending deliveries' next tries on by the template's age: loaded a day ago,
    they would be due now, and claimable during the measurement."""
    from django.db import connection

    from webhooks_app.models import Delivery, Event

    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(Delivery)} SET next_attempt_at = next_attempt_at"
            f" + (now() - (SELECT MAX(created_at) FROM {_table(Event)}))"
            " WHERE status = 'pending' AND next_attempt_at IS NOT NULL"
        )
        if cursor.rowcount:
            cursor.execute(f"VACUUM (ANALYZE) {_table(Delivery)}")


@contextmanager
def using(name: str) -> Iterator[None]:
    """Point Django's default connection at another database of the same server for a while."""
    from django.db import connection

    previous = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = previous


# -- loading ----------------------------------------------------------------------------------


def load(deliveries: int, now: datetime | None = None) -> dict[str, int]:
    """Write the history into the current database; returns the rows written per table."""
    from django.db import connection, transaction
    from django.utils import timezone

    from webhooks_app.models import Attempt, Delivery, Endpoint, Event

    now = now or timezone.now()
    events = max(1, deliveries // ENDPOINTS_PER_TENANT)
    with transaction.atomic():
        _endpoints(Endpoint, now)
        with connection.cursor() as cursor:
            cursor.execute(_base32_function())
            for model, select in (
                (Event, _events_sql()),
                (Delivery, _deliveries_sql(Event, Endpoint)),
                (Attempt, _attempts_sql(Delivery)),
            ):
                columns, values, defaults = _columns_and_values(model, select.columns)
                cursor.execute(
                    f"INSERT INTO {_table(model)} ({columns}) SELECT {values} {select.source}",
                    {**_parameters(now, events), **defaults},
                )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return {
        model._meta.model_name or "": model.objects.count()
        for model in (Endpoint, Event, Delivery, Attempt)
    }


def _endpoints(endpoint_model: Any, now: datetime) -> None:
    endpoint_model.objects.bulk_create(
        endpoint_model(
            url=f"https://127.0.0.1:9/hooks/{tenant}/{slot}",
            tenant=f"{TENANT_PREFIX}{tenant}",
            secret="whsec_" + "A" * 43 + "=",
            is_active=number % DISABLED_EVERY != 0,
            disabled_reason="" if number % DISABLED_EVERY else "Failed 100 times in a row.",
            disabled_at=None if number % DISABLED_EVERY else now - timedelta(days=5),
        )
        for number, (tenant, slot) in enumerate(
            (tenant, slot) for tenant in range(TENANTS) for slot in range(ENDPOINTS_PER_TENANT)
        )
    )


def _parameters(now: datetime, events: int) -> dict[str, Any]:
    return {
        "now": now,
        "events": events,
        "start": now - timedelta(days=SPAN_DAYS),
        "step": SPAN_DAYS * 86400.0 / events,
        "recent": now - timedelta(days=RECENT_DAYS),
        "tenants": TENANTS,
        "prefix": TENANT_PREFIX,
        "keyed": KEYED_EVERY,
        "note": "x" * PAYLOAD_NOTE,
        "schedule": list(SCHEDULE),
    }


@dataclass
class Select:
    """The column expressions of an ``INSERT … SELECT`` (by column name) and its FROM part."""

    columns: dict[str, str]
    source: str


def _base32_function() -> str:
    """``pg_temp.b32(value, length)``: Crockford base32, as :func:`webhooks_app.ids` writes."""
    return (
        "CREATE FUNCTION pg_temp.b32(v bigint, len int) RETURNS text LANGUAGE sql IMMUTABLE AS $$"
        " SELECT string_agg(substr('0123456789abcdefghjkmnpqrstvwxyz',"
        " ((v >> (5 * (len - 1 - k))) & 31)::int + 1, 1), '' ORDER BY k)"
        " FROM generate_series(0, len - 1) k $$"
    )


def _events_sql() -> Select:
    created = "(%(start)s::timestamptz + make_interval(secs => i * %(step)s))"
    millis = f"(extract(epoch FROM {created}) * 1000)::bigint"
    return Select(
        columns={
            # Sortable by time like new_event_id's; the random part made from i.
            "id": f"'msg_' || pg_temp.b32({millis}, 10)"
            " || pg_temp.b32(('x' || substr(md5(i::text), 1, 15))::bit(60)::bigint, 12)"
            " || pg_temp.b32(i %% 1048576, 4)",
            "event_type": "(ARRAY['order.paid', 'order.created', 'invoice.sent',"
            " 'customer.updated'])[1 + i %% 4]",
            "payload": "jsonb_build_object('order_id', i, 'amount', i %% 10000,"
            " 'currency', 'EUR', 'note', %(note)s::text)",
            "tenant": "%(prefix)s || (i %% %(tenants)s)",
            "created_at": created,
            "ordering_key": "CASE WHEN i %% %(keyed)s = 0 THEN 'order-' || (i %% 5000) ELSE '' END",
            "sequence": "CASE WHEN i %% %(keyed)s = 0 THEN i END",
        },
        source="FROM generate_series(1, %(events)s) i",
    )


def _deliveries_sql(event: Any, endpoint: Any) -> Select:
    """One delivery per (event, endpoint of its tenant); its fate drawn from a hash of both."""
    pairs = (
        "SELECT e.id AS event_id, e.created_at, e.ordering_key, e.sequence, t.endpoint_id,"
        " t.is_active, (abs(hashtext(e.id || ':' || t.endpoint_id)) %% 100000) / 100000.0 AS r"
        f" FROM {_table(event)} e"
        " JOIN (SELECT id AS endpoint_id, tenant, is_active"
        f"  FROM {_table(endpoint)} WHERE tenant LIKE %(prefix)s || '%%') t"
        " ON t.tenant = e.tenant"
    )
    shaped = (
        "SELECT p.*, (p.r * 97) - floor(p.r * 97) AS r2,"
        " CASE WHEN p.created_at > %(recent)s AND p.is_active AND p.r < 0.3 THEN 'pending'"
        " WHEN p.r >= 0.95 THEN 'failed' ELSE 'succeeded' END AS status"
        f" FROM ({pairs}) p"
    )
    tries = (
        "CASE s.status WHEN 'succeeded' THEN 1 + (s.r2 < 0.1)::int + (s.r2 < 0.03)::int"
        " WHEN 'failed' THEN CASE WHEN s.r2 < 0.5 THEN 1 ELSE 8 END"
        " ELSE 1 + floor(s.r2 * 4)::int END"
    )
    finished = "s.created_at + make_interval(secs => (%(schedule)s::int[])[t.tries] + 0.05)"
    return Select(
        columns={
            "event_id": "s.event_id",
            "endpoint_id": "s.endpoint_id",
            "status": "s.status",
            "attempt_count": "t.tries",
            "next_attempt_at": "CASE WHEN s.status = 'pending' THEN"
            " %(now)s::timestamptz + make_interval(secs => 3600 + s.r2 * 169200) END",
            "locked_until": "NULL",
            "last_status_code": "CASE WHEN s.status = 'succeeded' THEN 200"
            " WHEN s.status = 'failed' AND s.r2 < 0.5 THEN 400 ELSE 503 END",
            "last_error": "CASE WHEN s.status = 'succeeded' THEN ''"
            " WHEN s.status = 'failed' AND s.r2 < 0.5 THEN 'HTTP 400 Bad Request'"
            " ELSE 'HTTP 503 Service Unavailable' END",
            "created_at": "s.created_at + interval '50 milliseconds'",
            "finished_at": f"CASE WHEN s.status <> 'pending' THEN {finished} END",
            "ordering_key": "s.ordering_key",
            "sequence": "s.sequence",
        },
        source=f"FROM ({shaped}) s CROSS JOIN LATERAL (SELECT {tries} AS tries) t",
    )


def _attempts_sql(delivery: Any) -> Select:
    """Every try of every delivery: the last one of a success answered 200."""
    ok = "(d.status = 'succeeded' AND n = d.attempt_count)"
    return Select(
        columns={
            "delivery_id": "d.id",
            "number": "n",
            "status_code": f"CASE WHEN {ok} THEN 200 ELSE d.last_status_code END",
            "error_type": "''",
            "error": f"CASE WHEN {ok} THEN '' ELSE d.last_error END",
            "duration_ms": "20 + (d.id * 7 + n) %% 300",
            "response_body": f"CASE WHEN {ok} THEN 'ok'"
            " ELSE '<html><body><h1>' || d.last_error || '</h1></body></html>' END",
            "trigger": "'scheduled'",
            "created_at": "d.created_at + make_interval(secs => (%(schedule)s::int[])[n])",
        },
        source=f"FROM {_table(delivery)} d"
        " CROSS JOIN LATERAL generate_series(1, d.attempt_count) n",
    )


def _columns_and_values(model: Any, given: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """The column list, SELECT list and parameters of an INSERT into ``model``: the
    expressions given, and every other column's default as a parameter, so that a new
    column with a default needs no change here. The primary key, unless given, is the
    database's."""
    from django.db import connection

    unknown = set(given) - {field.column for field in model._meta.concrete_fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no columns {sorted(unknown)}")
    columns, values, defaults = [], [], {}
    for field in model._meta.concrete_fields:
        if field.column in given:
            values.append(given[field.column])
        elif field.primary_key:
            continue
        else:
            name = f"default_{field.column}"
            defaults[name] = field.get_db_prep_save(field.get_default(), connection)
            values.append(f"%({name})s")
        columns.append(connection.ops.quote_name(field.column))
    return ", ".join(columns), ", ".join(values), defaults


def _table(model: Any) -> str:
    from django.db import connection

    return connection.ops.quote_name(model._meta.db_table)


def sizes() -> list[tuple[str, int, int]]:
    """(table, rows, bytes with its indexes and TOAST) of the tables history fills."""
    from django.db import connection

    from webhooks_app.models import Attempt, Delivery, Endpoint, Event

    found = []
    with connection.cursor() as cursor:
        for model in (Endpoint, Event, Delivery, Attempt):
            cursor.execute(
                f"SELECT COUNT(*), pg_total_relation_size(%s) FROM {_table(model)}",
                [model._meta.db_table],
            )
            rows, size = cursor.fetchone()
            found.append((model._meta.db_table, rows, size))
    return found
