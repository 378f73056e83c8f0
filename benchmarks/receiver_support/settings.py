"""Django settings of the receiver benchmark, shared by gunicorn's workers and the harness.

``BENCH_DATABASE_URL`` names the scratch PostgreSQL database. Connections are
persistent (``CONN_MAX_AGE``), as in a production deployment, so that neither
contender pays for a new PostgreSQL backend per request.
"""

import os

from benchmarks.engine_support import databases

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "benchmarks.receiver_support.urls"
WSGI_APPLICATION = "benchmarks.receiver_support.wsgi.application"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "webhooks_app",
    "benchmarks.receiver_support",
]
# Django's default middleware, as a new project has it (both routes are CSRF-exempt).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

_DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/webhooks_inbound_bench"
DATABASES = {
    "default": databases.postgres(
        os.environ.get("BENCH_DATABASE_URL", _DEFAULT_DATABASE), CONN_MAX_AGE=600
    )
}

WEBHOOKS: dict = {}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
