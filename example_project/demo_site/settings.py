"""Settings of the example project.

Defaults need no server at all: SQLite in ``example_project/db.sqlite3`` and
kombu's filesystem transport as the Celery broker, in ``example_project/.broker/``.
Set ``DATABASE_URL=postgres://user:password@host:5432/name`` for PostgreSQL
(install the ``services`` extra) and ``CELERY_BROKER_URL`` (e.g.
``redis://127.0.0.1:6379/0``) for another broker.

Not for production: DEBUG is on and the secret key is public.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent  # example_project/

SECRET_KEY = "example-project-not-secret"
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "webhooks_app",
    "shop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = "demo_site.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def database(url: str | None) -> dict:
    """SQLite by default; otherwise what ``DATABASE_URL`` names (dj-database-url)."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
            # The web server, the worker and demo.py all write to this one file:
            # WAL lets readers run beside a writer, IMMEDIATE transactions and a
            # timeout make writers wait for each other instead of failing.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
            },
        }
    return dj_database_url.parse(url)


DATABASES = {"default": database(os.environ.get("DATABASE_URL"))}

# Celery: a broker that needs no server unless CELERY_BROKER_URL names one.
BROKER_DIR = BASE_DIR / ".broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT = "demo_site.broker:Transport"  # atomic writes; see broker.py
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder for both directions: producers and the worker share it.
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "polling_interval": 0.2,  # seconds between looks for new messages
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

WEBHOOKS = {
    # The demo's receiver runs on this machine; without this, the SSRF guard
    # refuses every loopback and private address.
    "ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"],
    # Retry after about 1, 2 and 4 seconds (real deployments wait far longer).
    "RETRY_SCHEDULE": [1, 2, 4],
    "TIMEOUT": (2, 5),
    # send_event refuses payloads that their type's schema (shop/webhooks.py) refuses.
    "VALIDATE_PAYLOADS": True,
    # Whom a request to the customer-facing API (/api/customer/webhooks/) acts for.
    "TENANT_RESOLVER": "shop.tenancy.merchant_of",
}

# The receiving side (shop.views): the secret shared with the sender out of
# band. demo.py generates one per run and gives it to both sides; this
# fallback is the Standard Webhooks documentation's example secret.
SHOP_WEBHOOK_SECRET = os.environ.get(
    "SHOP_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

# As docs/observability.md shows it: the handler on the root logger, which the Celery
# worker takes over, so each line is printed once in the worker's log too.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"webhooks_app": {"level": "INFO"}},
}
