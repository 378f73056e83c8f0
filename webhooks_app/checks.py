"""System checks (ids ``webhooks_app.E0xx``, ``W0xx``): the ``WEBHOOKS`` dict and the project.

The per-key checks derive from the declarations in :mod:`webhooks_app.conf.registry`;
the others are about the project as a whole (databases, routed receivers, metrics).
"""

from __future__ import annotations

from difflib import get_close_matches
from sqlite3 import dbapi2
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from webhooks_app import conf


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
    """Every key of ``WEBHOOKS`` against its declaration: unknown keys, then bad values."""
    user = getattr(settings, "WEBHOOKS", None)
    if user is None:
        return []
    if not isinstance(user, dict):
        return [Error("WEBHOOKS must be a dict.", id="webhooks_app.E001")]
    problems: list = [unknown_key_warning(key) for key in user if key not in conf.BY_NAME]
    for declared in conf.SETTINGS:
        if declared.name not in user:
            continue
        value = user[declared.name]
        problem = declared.validate(value)
        if problem is not None:
            problems.append(
                Error(
                    f"WEBHOOKS[{declared.name!r}] {problem}; got {value!r}.",
                    id="webhooks_app.E002",
                )
            )
    return problems


def unknown_key_warning(key: object) -> Warning:
    """W001, with the declared key it most likely meant to be, if one is close."""
    close = get_close_matches(str(key).upper(), conf.BY_NAME, n=1, cutoff=0.8)
    hint = (
        f"Did you mean {close[0]!r}?"
        if close
        else f"Known keys: {', '.join(sorted(conf.BY_NAME))}."
    )
    return Warning(
        f"WEBHOOKS[{key!r}] is not a setting of webhooks_app and is ignored.",
        hint=hint,
        id="webhooks_app.W001",
    )


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
    """A receiver without a verifier is an error; one whose verifier has no secret, a warning.

    The secret usually comes from the environment, which a build step (``migrate``,
    ``collectstatic`` in an image build) does not have: there it is only a warning
    (W004), and :func:`check_receiver_secrets` makes it an error under
    ``check --deploy``. A receiver that overrides ``verify()`` or ``get_verifier()``
    supplies its own, which only a request can show; the view refuses every request
    if it is missing.
    """
    problems: list = []
    for view, name in checked_receivers():
        if view.verifier is None:
            problems.append(
                Error(
                    f"{name} has no verifier.",
                    id="webhooks_app.E003",
                    hint="Set verifier = StripeVerifier(secret=...) or another verifier, "
                    "or override verify() or get_verifier().",
                )
            )
        elif lacks_secret(view.verifier):
            problems.append(
                Warning(
                    f"{name} has a verifier with no secret; it would reject every request.",
                    id="webhooks_app.W004",
                    hint="Pass secret= (a string, or a list during rotation). Harmless in a "
                    "build step without the runtime secrets; `check --deploy` reports it as "
                    "webhooks_app.E004.",
                )
            )
    return problems


@register(Tags.security, Tags.urls, deploy=True)
def check_receiver_secrets(app_configs=None, **kwargs) -> list:
    """``check --deploy``: a receiver whose verifier has no secret is an error (E004)."""
    return [
        Error(
            f"{name} has a verifier with no secret; it would reject every request.",
            id="webhooks_app.E004",
            hint="Pass secret= (a string, or a list during rotation); is its environment "
            "variable set where the web process runs?",
        )
        for view, name in checked_receivers()
        if view.verifier is not None and lacks_secret(view.verifier)
    ]


def checked_receivers() -> list[tuple[Any, str]]:
    """Routed receivers whose ``verifier`` attribute is theirs to check, with their names."""
    return [
        (view, f"{view.__module__}.{view.__qualname__}")
        for view in receiver_views()
        if not supplies_its_verifier(view)
    ]


def lacks_secret(verifier: Any) -> bool:
    """Whether a verifier was given no usable secret (``""``, ``None``, ``[]``)."""
    return getattr(verifier, "secrets", True) == ()


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
