"""Test settings: SQLite and an in-memory broker by default; PostgreSQL and
Redis when DATABASE_URL and CELERY_BROKER_URL are set (the services run)."""

import json
import os
from pathlib import Path

import dj_database_url
import django

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "webhooks_app",
    "tests.model_events_app",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
STATIC_URL = "/static/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def _database(url: str | None) -> dict:
    if not url:
        # A file, not :memory:, so that worker threads share the test database.
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(BASE_DIR / "db.sqlite3"),
            "TEST": {
                "NAME": os.environ.get("WEBHOOKS_TEST_SQLITE", str(BASE_DIR / "test.sqlite3"))
            },
            # IMMEDIATE: a transaction takes the write lock up front, so concurrent
            # workers wait for each other instead of failing with "database is locked".
            # WEBHOOKS_TEST_SQLITE_MODE=DEFERRED runs the suite on SQLite's default instead.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": os.environ.get("WEBHOOKS_TEST_SQLITE_MODE", "IMMEDIATE"),
            },
        }
    database: dict = dict(dj_database_url.parse(url))
    # A subprocess worker is pointed at the test database by this variable.
    database["TEST"] = {"NAME": os.environ.get("WEBHOOKS_TEST_DB_NAME")}
    return database


DATABASES = {"default": _database(os.environ.get("DATABASE_URL"))}
if os.environ.get("WEBHOOKS_USE_TEST_DB"):
    # Set for subprocess workers: connect straight to the database pytest created.
    DATABASES["default"]["NAME"] = os.environ["WEBHOOKS_USE_TEST_DB"]

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "memory://")

WEBHOOKS = {
    "ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"],
    "TIMEOUT": (2, 3),
    "LEASE_MARGIN": 1,
    "RETRY_SCHEDULE": [0.2, 0.4],
}
if os.environ.get("WEBHOOKS_TEST_SETTINGS"):
    # Set for subprocess workers: the settings in force in the test that started them.
    WEBHOOKS = json.loads(os.environ["WEBHOOKS_TEST_SETTINGS"])
# The in-memory transport polls; poll often so tests do not wait on it.
CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.05}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

if django.VERSION >= (6, 1):
    # Django 6.1 warns (an error here) when mail is sent without MAILERS configured.
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
