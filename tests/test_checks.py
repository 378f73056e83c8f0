"""System checks for the WEBHOOKS settings dict."""

from __future__ import annotations

import math
from sqlite3 import dbapi2

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db.utils import ConnectionHandler
from django.test import override_settings

from webhooks_app.checks import check_database, check_settings, database_errors
from webhooks_app.conf import DEFAULTS

VALID = {
    "RETRY_SCHEDULE": [0.5, 5, 300],
    "TIMEOUT": (3, 10.5),
    "ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128", "10.1.0.0/16"],
    "SIGNATURE_TOLERANCE": 600,
    "MAX_INBOUND_BODY": 2_000_000,
    "LEASE_MARGIN": 0,
    "QUEUE": "webhooks",
    "MAX_RESPONSE_BODY": 0,
    "MAX_RETRY_AFTER": 7200.0,
    "MAX_COUNTDOWN": 60,
    "RETRY_CLIENT_ERRORS": True,
    "SECRET_ROTATION_GRACE": 3600,
    "DISABLE_AFTER_FAILURES": 1,
    "DISABLE_AFTER_SECONDS": 0,
    "ALERT_AFTER_FAILURES": 3,
    "ALERT_DISABLE_WARNING": 0.75,
    "ALERT_EMAILS": False,
    "ALERT_MAX_PER_DAY": 10,
    "ALERT_FROM_EMAIL": "Webhooks <webhooks@example.com>",
    "ALERT_LINK": "https://example.com/{tenant}/webhooks/{endpoint_id}/",
    "BATCH_SIZE": 50,
    "SEND_CONCURRENCY": 8,
    "MAX_IN_FLIGHT_PER_ENDPOINT": 1,
    "CIRCUIT_BREAKER_THRESHOLD": 3,
    "CIRCUIT_BREAKER_COOLDOWN": 0.5,
    "CIRCUIT_BREAKER_FAILURE_RATE": 1,
    "CIRCUIT_BREAKER_MIN_REQUESTS": 1,
    "CIRCUIT_BREAKER_WINDOW": 0.5,
    "USER_AGENT": "my-app/1.0",
    "API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "API_PAGE_SIZE": 20,
    "INBOUND_HEADERS": ["Content-Type", "X-Request-Id"],
    "TENANT_RESOLVER": "tests.tenants.tenant_from_header",
    "TENANT_LABEL": "tests.tenants.tenant_name",
    "TENANT_CHOICES": "tests.tenants.tenant_choices",
    "MAX_ENDPOINTS_PER_TENANT": 10,
    "VALIDATE_PAYLOADS": True,
    "PROPAGATE_TRACE_CONTEXT": False,
    "METRICS_TOKEN": "a-long-random-scrape-token",
    "CATALOG_INFO": {"title": "Shop webhooks", "version": "2.1.0", "contact": {"name": "Ops"}},
}


def ids(problems) -> list[str]:
    return [p.id for p in problems]


def test_valid_config_sets_every_known_key():
    assert set(VALID) == set(DEFAULTS)


@pytest.mark.parametrize(
    "webhooks",
    [
        VALID,
        {},
        DEFAULTS,
        {"TIMEOUT": 5},
        {"TIMEOUT": [1, 2]},
        {"RETRY_SCHEDULE": []},
        {"RETRY_SCHEDULE": (1, 2.5)},
        {"ALLOWED_NETWORKS": ()},
        {"QUEUE": None, "USER_AGENT": None},
        {"RETRY_CLIENT_ERRORS": False},
        {"CATALOG_INFO": {}},
        {"CATALOG_INFO": {"description": "Ours."}},
        {"ALERT_AFTER_FAILURES": None, "ALERT_DISABLE_WARNING": None},
        {"ALERT_LINK": "https://example.com/webhooks/"},
    ],
)
def test_valid_config_has_no_problems(webhooks):
    with override_settings(WEBHOOKS=webhooks):
        assert check_settings() == []


def test_the_test_settings_are_valid():
    assert check_settings() == []


def test_missing_webhooks_setting_is_fine(settings):
    del settings.WEBHOOKS
    assert check_settings() == []


@override_settings(WEBHOOKS={"RETRY_SHEDULE": [1, 2], "TIMEOUT": 5})
def test_unknown_key_is_a_warning():
    (problem,) = check_settings()
    assert problem.id == "webhooks_app.W001"
    assert problem.level == checks.WARNING
    assert "RETRY_SHEDULE" in problem.msg
    assert "RETRY_SCHEDULE" in problem.hint


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("RETRY_SHEDULE", "RETRY_SCHEDULE"),
        ("retry_schedule", "RETRY_SCHEDULE"),
        ("TIMEOUTS", "TIMEOUT"),
        ("MAX_INBOUND_BODY_SIZE", "MAX_INBOUND_BODY"),
        ("ALERTS_EMAILS", "ALERT_EMAILS"),
    ],
)
def test_an_unknown_key_close_to_a_known_one_gets_a_did_you_mean(typo, meant):
    with override_settings(WEBHOOKS={typo: 1}):
        (problem,) = check_settings()
    assert problem.id == "webhooks_app.W001"
    assert problem.hint == f"Did you mean {meant!r}?"


@override_settings(WEBHOOKS={"NOPE": 1})
def test_an_unknown_key_close_to_none_gets_the_known_keys():
    (problem,) = check_settings()
    assert problem.hint == f"Known keys: {', '.join(sorted(DEFAULTS))}."


@override_settings(WEBHOOKS={"NOPE": 1, "ALSO_NOPE": 2})
def test_each_unknown_key_is_reported():
    problems = check_settings()
    assert ids(problems) == ["webhooks_app.W001", "webhooks_app.W001"]
    assert "WEBHOOKS['NOPE']" in problems[0].msg
    assert "WEBHOOKS['ALSO_NOPE']" in problems[1].msg


@pytest.mark.parametrize("webhooks", [[("TIMEOUT", 5)], "TIMEOUT=5", 5, ("RETRY_SCHEDULE",)])
def test_webhooks_not_a_dict_is_an_error(webhooks):
    with override_settings(WEBHOOKS=webhooks):
        (problem,) = check_settings()
    assert problem.id == "webhooks_app.E001"
    assert problem.level == checks.ERROR


INVALID = [
    ("RETRY_SCHEDULE", "5, 300"),
    ("RETRY_SCHEDULE", 5),
    ("RETRY_SCHEDULE", [5, -1]),
    ("RETRY_SCHEDULE", [5, "300"]),
    ("RETRY_SCHEDULE", [True]),
    ("RETRY_SCHEDULE", [math.nan]),
    ("TIMEOUT", 0),
    ("TIMEOUT", -1),
    ("TIMEOUT", "5"),
    ("TIMEOUT", (5,)),
    ("TIMEOUT", (5, 10, 15)),
    ("TIMEOUT", (5, 0)),
    ("TIMEOUT", (5, None)),
    ("TIMEOUT", True),
    ("ALLOWED_NETWORKS", "127.0.0.0/8"),
    ("ALLOWED_NETWORKS", ["not-a-network"]),
    ("ALLOWED_NETWORKS", ["127.0.0.0/33"]),
    ("ALLOWED_NETWORKS", [None]),
    ("ALLOWED_NETWORKS", None),
    ("SIGNATURE_TOLERANCE", 0),
    ("SIGNATURE_TOLERANCE", -5),
    ("SIGNATURE_TOLERANCE", "300"),
    ("SIGNATURE_TOLERANCE", True),
    ("MAX_INBOUND_BODY", 0),
    ("MAX_INBOUND_BODY", 1.5),
    ("MAX_INBOUND_BODY", "1MB"),
    ("MAX_INBOUND_BODY", True),
    ("LEASE_MARGIN", -1),
    ("LEASE_MARGIN", None),
    ("QUEUE", ""),
    ("QUEUE", 5),
    ("MAX_RESPONSE_BODY", -1),
    ("MAX_RESPONSE_BODY", 100.0),
    ("MAX_RETRY_AFTER", -1),
    ("MAX_COUNTDOWN", "60"),
    ("RETRY_CLIENT_ERRORS", 1),
    ("RETRY_CLIENT_ERRORS", "yes"),
    ("SECRET_ROTATION_GRACE", -1),
    ("DISABLE_AFTER_FAILURES", 0),
    ("DISABLE_AFTER_FAILURES", 2.5),
    ("DISABLE_AFTER_SECONDS", -1),
    ("ALERT_AFTER_FAILURES", 0),
    ("ALERT_AFTER_FAILURES", "5"),
    ("ALERT_DISABLE_WARNING", 0),
    ("ALERT_DISABLE_WARNING", 1),
    ("ALERT_DISABLE_WARNING", "0.5"),
    ("ALERT_DISABLE_WARNING", math.nan),
    ("ALERT_EMAILS", 1),
    ("ALERT_MAX_PER_DAY", 0),
    ("ALERT_MAX_PER_DAY", "3"),
    ("ALERT_FROM_EMAIL", ""),
    ("ALERT_FROM_EMAIL", ["ops@example.com"]),
    ("ALERT_LINK", ""),
    ("ALERT_LINK", "https://example.com/{pk}/"),
    ("ALERT_LINK", "https://example.com/{0}/"),
    ("ALERT_LINK", "https://example.com/{endpoint_id"),
    ("ALERT_LINK", "https://example.com/{tenant.upper}/"),
    ("BATCH_SIZE", 0),
    ("BATCH_SIZE", 10.5),
    ("SEND_CONCURRENCY", 0),
    ("SEND_CONCURRENCY", "32"),
    ("MAX_IN_FLIGHT_PER_ENDPOINT", 0),
    ("MAX_IN_FLIGHT_PER_ENDPOINT", None),
    ("CIRCUIT_BREAKER_THRESHOLD", 0),
    ("CIRCUIT_BREAKER_THRESHOLD", True),
    ("CIRCUIT_BREAKER_COOLDOWN", -1),
    ("CIRCUIT_BREAKER_COOLDOWN", "30"),
    ("CIRCUIT_BREAKER_FAILURE_RATE", 0),
    ("CIRCUIT_BREAKER_FAILURE_RATE", 1.5),
    ("CIRCUIT_BREAKER_FAILURE_RATE", "0.5"),
    ("CIRCUIT_BREAKER_MIN_REQUESTS", 0),
    ("CIRCUIT_BREAKER_MIN_REQUESTS", 20.0),
    ("CIRCUIT_BREAKER_WINDOW", 0),
    ("CIRCUIT_BREAKER_WINDOW", "60"),
    ("USER_AGENT", 5),
    ("USER_AGENT", b"agent"),
    ("API_PERMISSION_CLASSES", "rest_framework.permissions.IsAdminUser"),
    ("API_PERMISSION_CLASSES", [object]),
    ("API_PAGE_SIZE", 0),
    ("API_PAGE_SIZE", "50"),
    ("INBOUND_HEADERS", "Content-Type"),
    ("INBOUND_HEADERS", [None]),
    ("TENANT_RESOLVER", "tests.tenants.no_such_function"),
    ("TENANT_RESOLVER", "no_such_module.resolver"),
    ("TENANT_RESOLVER", "tests.tenants.NOT_CALLABLE"),
    ("TENANT_RESOLVER", 5),
    ("TENANT_LABEL", "tests.tenants.no_such_function"),
    ("TENANT_LABEL", "tests.tenants.NOT_CALLABLE"),
    ("TENANT_CHOICES", "no_such_module.choices"),
    ("TENANT_CHOICES", ["acme"]),
    ("MAX_ENDPOINTS_PER_TENANT", 0),
    ("MAX_ENDPOINTS_PER_TENANT", "10"),
    ("VALIDATE_PAYLOADS", 1),
    ("VALIDATE_PAYLOADS", "yes"),
    ("PROPAGATE_TRACE_CONTEXT", None),
    ("PROPAGATE_TRACE_CONTEXT", "false"),
    ("METRICS_TOKEN", ""),
    ("METRICS_TOKEN", "short"),
    ("METRICS_TOKEN", b"a-long-random-scrape-token"),
    ("CATALOG_INFO", None),
    ("CATALOG_INFO", "Shop webhooks"),
    ("CATALOG_INFO", {"title": ""}),
    ("CATALOG_INFO", {"version": 2}),
    ("CATALOG_INFO", {1: "x"}),
]


@pytest.mark.parametrize(("key", "value"), INVALID)
def test_invalid_value_is_an_error(key, value):
    with override_settings(WEBHOOKS={key: value}):
        (problem,) = check_settings()
    assert problem.id == "webhooks_app.E002"
    assert problem.level == checks.ERROR
    assert repr(key) in problem.msg


def test_every_key_has_invalid_cases():
    assert {key for key, _ in INVALID} == set(DEFAULTS)


@pytest.mark.parametrize("key", DEFAULTS)
def test_every_declared_key_is_checked(key):
    # A key added to the registry is checked without a line here: a value of no
    # sensible type is refused, with the declaration's words for what it expects.
    with override_settings(WEBHOOKS={key: object()}):
        (problem,) = check_settings()
    assert problem.id == "webhooks_app.E002"
    assert problem.msg.startswith(f"WEBHOOKS[{key!r}] must be ")


def test_the_message_says_what_the_declaration_expects():
    with override_settings(WEBHOOKS={"TIMEOUT": 0, "ALERT_AFTER_FAILURES": "5"}):
        problems = check_settings()
    assert [p.msg for p in problems] == [
        "WEBHOOKS['TIMEOUT'] must be a positive number or a (connect, read) pair of them; got 0.",
        "WEBHOOKS['ALERT_AFTER_FAILURES'] must be None or a positive whole number; got '5'.",
    ]


def test_several_problems_are_all_reported():
    webhooks = {**VALID, "TIMEOUT": 0, "QUEUE": "", "TYPO": 1}
    with override_settings(WEBHOOKS=webhooks):
        problems = check_settings()
    assert sorted(ids(problems)) == [
        "webhooks_app.E002",
        "webhooks_app.E002",
        "webhooks_app.W001",
    ]


@pytest.mark.django_db  # Django 6.1 checks may query the database
def test_check_is_registered_with_django():
    with override_settings(WEBHOOKS=["not", "a", "dict"]):
        found = checks.run_checks()
    assert "webhooks_app.E001" in ids(found)


# --- the database (webhooks_app.E005) ----------------------------------------------------


def database(engine: str, name: str = ":memory:"):
    """A backend as Django builds it from settings; none of these tests connects."""
    return ConnectionHandler({"default": {"ENGINE": engine, "NAME": name}})["default"]


def test_postgresql_is_supported():
    try:
        postgresql = database("django.db.backends.postgresql", "shop")
    except ImproperlyConfigured:
        pytest.skip("no PostgreSQL driver installed (the services extra)")
    assert database_errors(postgresql) == []


def test_a_recent_sqlite_is_supported():
    assert database_errors(database("django.db.backends.sqlite3")) == []  # 3.35+ here


def test_another_database_is_an_error_that_names_it():
    (error,) = database_errors(database("django.db.backends.dummy"))
    assert error.id == "webhooks_app.E005"
    assert error.level == checks.ERROR
    assert "django.db.backends.dummy" in error.msg


def test_an_sqlite_older_than_3_35_is_an_error(monkeypatch):
    """No RETURNING before 3.35: the receiver's upsert and claim could not run."""
    monkeypatch.setattr(dbapi2, "sqlite_version_info", (3, 34, 1))
    (error,) = database_errors(database("django.db.backends.sqlite3"))
    assert error.id == "webhooks_app.E005"
    assert "SQLite 3.34.1" in error.msg


def test_the_database_check_is_registered_and_passes_on_the_test_database():
    assert check_database() == []
    assert check_database in checks.registry.registry.get_checks()


# --- a receiver's missing secret: a warning, an error only with --deploy ----------------


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.urls_missing_secret")
def test_a_verifier_without_a_secret_only_warns_outside_deploy(capsys):
    """A build step (collectstatic, migrate) has no runtime secrets: it must not fail."""
    from django.core.management import call_command

    call_command("check")  # raises SystemCheckError on any error
    assert "webhooks_app.W004" in capsys.readouterr().err
    call_command("migrate", verbosity=0, skip_checks=False)


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.urls_missing_secret")
def test_a_verifier_without_a_secret_fails_the_deployment_check():
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    with pytest.raises(SystemCheckError, match=r"webhooks_app\.E004"):
        call_command("check", deploy=True)
