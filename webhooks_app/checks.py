"""System checks for the ``WEBHOOKS`` settings dict (ids ``webhooks_app.E0xx``)."""

from __future__ import annotations

import ipaddress
import string
from collections.abc import Callable
from sqlite3 import dbapi2
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.module_loading import import_string

from webhooks_app.conf import DEFAULTS


def _number(value: Any, minimum: float = 0, *, strict: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return value > minimum if strict else value >= minimum


def _whole(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _schedule(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(_number(v) for v in value)


def _timeout(value: Any) -> bool:
    if _number(value, strict=True):
        return True
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(_number(v, strict=True) for v in value)
    )


def _networks(value: Any) -> bool:
    if not isinstance(value, list | tuple) or isinstance(value, str):
        return False
    try:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
    except (TypeError, ValueError):
        return False
    return True


def _callable_path(value: Any) -> bool:
    """None, or the dotted path of something callable that imports."""
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    try:
        return callable(import_string(value))
    except ImportError:
        return False


def _catalog_info(value: Any) -> bool:
    """A partial OpenAPI info object: string keys; title and version, if given, non-empty."""
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        return False
    return all(
        isinstance(value[key], str) and value[key] for key in ("title", "version") if key in value
    )


def _share(value: Any) -> bool:
    """None, or a number strictly between 0 and 1."""
    return value is None or (_number(value, strict=True) and value < 1)


def _link(value: Any) -> bool:
    """None, or a URL whose only placeholders are {endpoint_id} and {tenant}."""
    if value is None:
        return True
    if not isinstance(value, str) or not value:
        return False
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
    except ValueError:
        return False
    return all(field in ("endpoint_id", "tenant") for field in fields)


VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "RETRY_SCHEDULE": (_schedule, "a list of non-negative numbers of seconds"),
    "TIMEOUT": (_timeout, "a positive number or a (connect, read) pair of them"),
    "ALLOWED_NETWORKS": (_networks, 'a list of CIDRs such as "127.0.0.0/8"'),
    "SIGNATURE_TOLERANCE": (lambda v: _number(v, strict=True), "a positive number of seconds"),
    "MAX_INBOUND_BODY": (lambda v: _whole(v, 1), "a positive whole number of bytes"),
    "LEASE_MARGIN": (_number, "a non-negative number of seconds"),
    "QUEUE": (lambda v: v is None or (isinstance(v, str) and v != ""), "None or a queue name"),
    "MAX_RESPONSE_BODY": (_whole, "a non-negative whole number of bytes"),
    "MAX_RETRY_AFTER": (_number, "a non-negative number of seconds"),
    "MAX_COUNTDOWN": (_number, "a non-negative number of seconds"),
    "RETRY_CLIENT_ERRORS": (lambda v: isinstance(v, bool), "True or False"),
    "SECRET_ROTATION_GRACE": (_number, "a non-negative number of seconds"),
    "DISABLE_AFTER_FAILURES": (lambda v: _whole(v, 1), "a positive whole number"),
    "DISABLE_AFTER_SECONDS": (_number, "a non-negative number of seconds"),
    "ALERT_AFTER_FAILURES": (
        lambda v: v is None or _whole(v, 1),
        "None or a positive whole number",
    ),
    "ALERT_DISABLE_WARNING": (_share, "None or a number between 0 and 1, e.g. 0.5"),
    "ALERT_EMAILS": (lambda v: isinstance(v, bool), "True or False"),
    "ALERT_FROM_EMAIL": (
        lambda v: v is None or (isinstance(v, str) and v != ""),
        "None or an e-mail address",
    ),
    "ALERT_LINK": (_link, "None or a URL whose placeholders are {endpoint_id} and {tenant}"),
    "BATCH_SIZE": (lambda v: _whole(v, 1), "a positive whole number"),
    "SEND_CONCURRENCY": (lambda v: _whole(v, 1), "a positive whole number"),
    "MAX_IN_FLIGHT_PER_ENDPOINT": (lambda v: _whole(v, 1), "a positive whole number"),
    "CIRCUIT_BREAKER_THRESHOLD": (lambda v: _whole(v, 1), "a positive whole number"),
    "CIRCUIT_BREAKER_COOLDOWN": (_number, "a non-negative number of seconds"),
    "USER_AGENT": (lambda v: v is None or isinstance(v, str), "None or a string"),
    "API_PERMISSION_CLASSES": (
        lambda v: isinstance(v, list | tuple) and all(isinstance(i, str) for i in v),
        "a list of import strings",
    ),
    "API_PAGE_SIZE": (lambda v: _whole(v, 1), "a positive whole number"),
    "TENANT_RESOLVER": (_callable_path, "None or the dotted path of a function f(request)"),
    "MAX_ENDPOINTS_PER_TENANT": (
        lambda v: v is None or _whole(v, 1),
        "None or a positive whole number",
    ),
    "INBOUND_HEADERS": (
        lambda v: isinstance(v, list | tuple) and all(isinstance(i, str) for i in v),
        "a list of header names",
    ),
    "VALIDATE_PAYLOADS": (lambda v: isinstance(v, bool), "True or False"),
    "PROPAGATE_TRACE_CONTEXT": (lambda v: isinstance(v, bool), "True or False"),
    "METRICS_TOKEN": (
        lambda v: v is None or (isinstance(v, str) and len(v) >= 16),
        "None or a string of at least 16 characters",
    ),
    "CATALOG_INFO": (
        _catalog_info,
        'a dict such as {"title": "Shop webhooks", "version": "2.1.0"} (an OpenAPI info '
        "object; title and version non-empty strings)",
    ),
}


@register(Tags.compatibility)
def check_sqlite_transaction_mode(app_configs=None, **kwargs) -> list:
    """SQLite's default deferred transactions fail under concurrent workers."""
    return sqlite_transaction_warnings(settings.DATABASES)


def sqlite_transaction_warnings(databases: dict[str, dict]) -> list:
    return [
        Warning(
            f"Database {alias!r} is SQLite without transaction_mode IMMEDIATE; concurrent "
            "webhook workers may fail with 'database is locked'.",
            hint='Add "OPTIONS": {"transaction_mode": "IMMEDIATE"} to its settings.',
            id="webhooks_app.W002",
        )
        for alias, config in databases.items()
        if config.get("ENGINE") == "django.db.backends.sqlite3"
        and str(config.get("OPTIONS", {}).get("transaction_mode", "")).upper() != "IMMEDIATE"
    ]


@register(Tags.compatibility)
def check_database(app_configs=None, **kwargs) -> list:
    """The app's statements (upserts, ``RETURNING``) run on PostgreSQL and SQLite 3.35+ only."""
    return database_errors(connections[DEFAULT_DB_ALIAS])


def database_errors(connection: BaseDatabaseWrapper) -> list:
    """An error for a database the app cannot run on; read from the backend, not a query."""
    if connection.vendor == "postgresql":
        return []
    if connection.vendor == "sqlite":
        version = dbapi2.sqlite_version_info  # the library Django's backend uses
        if version >= (3, 35):
            return []
        found = f"SQLite {'.'.join(map(str, version))}"
    else:
        found = connection.settings_dict["ENGINE"]  # a MySQL backend connects for its name
    return [
        Error(
            f"webhooks_app runs on PostgreSQL, or SQLite 3.35 or later; database "
            f"{connection.alias!r} uses {found}.",
            hint="Use PostgreSQL in production (see the deployment guide); for SQLite, a "
            "Python built with a newer SQLite library.",
            id="webhooks_app.E005",
        )
    ]


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs) -> list:
    user = getattr(settings, "WEBHOOKS", None)
    if user is None:
        return []
    if not isinstance(user, dict):
        return [Error("WEBHOOKS must be a dict.", id="webhooks_app.E001")]
    problems: list = [
        Warning(
            f"WEBHOOKS[{key!r}] is not a setting of webhooks_app and is ignored.",
            hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
            id="webhooks_app.W001",
        )
        for key in user
        if key not in DEFAULTS
    ]
    for key, (valid, expected) in VALIDATORS.items():
        if key in user and not valid(user[key]):
            problems.append(
                Error(
                    f"WEBHOOKS[{key!r}] must be {expected}; got {user[key]!r}.",
                    id="webhooks_app.E002",
                )
            )
    return problems


def receiver_views(patterns=None) -> list[Any]:
    """Every WebhookReceiverView subclass routed in the URLconf."""
    from django.urls import URLPattern, URLResolver, get_resolver

    from webhooks_app.receivers.views import WebhookReceiverView

    found: list[type] = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            found.extend(receiver_views(pattern.url_patterns))
        elif isinstance(pattern, URLPattern):
            view_class = getattr(pattern.callback, "view_class", None)
            if isinstance(view_class, type) and issubclass(view_class, WebhookReceiverView):
                found.append(view_class)
    return list(dict.fromkeys(found))


def supplies_its_verifier(view: Any) -> bool:
    """Whether a receiver overrides ``verify()`` or ``get_verifier()`` (both documented)."""
    from webhooks_app.receivers.views import WebhookReceiverView

    return (
        view.verify is not WebhookReceiverView.verify
        or view.get_verifier is not WebhookReceiverView.get_verifier
    )


@register(Tags.security, Tags.urls)
def check_receivers(app_configs=None, **kwargs) -> list:
    """A receiver without a verifier or without a secret is a configuration error.

    A receiver that overrides ``verify()`` or ``get_verifier()`` supplies its own,
    which only a request can show; the view refuses every request if it is missing.
    """
    problems = []
    for view in receiver_views():
        if supplies_its_verifier(view):
            continue
        verifier = view.verifier
        name = f"{view.__module__}.{view.__qualname__}"
        if verifier is None:
            problems.append(
                Error(
                    f"{name} has no verifier.",
                    id="webhooks_app.E003",
                    hint="Set verifier = StripeVerifier(secret=...) or another verifier, "
                    "or override verify() or get_verifier().",
                )
            )
        elif getattr(verifier, "secrets", True) == ():
            problems.append(
                Error(
                    f"{name} has a verifier with no secret; it would reject every request.",
                    id="webhooks_app.E004",
                    hint="Pass secret= (a string, or a list during rotation).",
                )
            )
    return problems


def routed_callbacks(patterns=None) -> list:
    """Every view function routed in the URLconf."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: list = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            found.extend(routed_callbacks(pattern.url_patterns))
        elif isinstance(pattern, URLPattern):
            found.append(pattern.callback)
    return found


@register(Tags.urls)
def check_metrics(app_configs=None, **kwargs) -> list:
    """The metrics view routed without ``prometheus_client``: every scrape would get a 501."""
    from webhooks_app import metrics
    from webhooks_app.metrics.views import metrics_view

    if metrics.prometheus_client is not None or metrics_view not in routed_callbacks():
        return []
    return [
        Warning(
            "webhooks_app.metrics.urls is routed but prometheus_client is not installed; "
            "the metrics view answers 501.",
            hint=f"{metrics.MISSING}.",
            id="webhooks_app.W003",
        )
    ]
