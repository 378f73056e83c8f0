"""Django settings of the benchmark, shared by the producer and the Celery worker.

Everything that differs between runs comes from environment variables that
``benchmarks/engine.py`` sets for itself and passes to each worker it starts,
so both sides always agree:

- ``BENCH_DATABASE_URL``: ``postgres://user@host:port/name`` (a scratch database);
- ``BENCH_BROKER_URL``: the Redis broker (a dedicated db number);
- ``BENCH_WEBHOOKS``: JSON of the whole ``WEBHOOKS`` dict for this run;
- ``BENCH_DB_REUSE_MAX``: ``CELERY_DB_REUSE_MAX`` (0 = Celery's default, close
  the database connection around every task).
"""

import json
import os
import warnings

from benchmarks.engine_support import databases

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "benchmarks.engine_support.urls"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "webhooks_app",
    "django_webhook",
    "benchmarks.engine_support.shop",
]

DATABASES = {
    "default": databases.postgres(
        os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/webhooks_bench")
    )
}

CELERY_BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Read by Celery's Django fixup (not namespaced): how many tasks a process may
# run before it closes its database connections. None closes them around
# every task, which costs a new PostgreSQL connection per task.
CELERY_DB_REUSE_MAX = int(os.environ.get("BENCH_DB_REUSE_MAX", "0")) or None

WEBHOOKS = json.loads(
    os.environ.get("BENCH_WEBHOOKS")
    or '{"ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"], "TIMEOUT": [5, 15]}'
)

# The peer, django-webhook 0.0.15, watching the benchmark's own model. Its
# other settings keep their defaults (STORE_EVENTS=True, USE_CACHE=True).
DJANGO_WEBHOOK = {"MODELS": ["bench_shop.Order"]}

# django-webhook queries the database in its AppConfig.ready(); that is the
# peer's behaviour, measured as it is, so its warning is not repeated each run.
warnings.filterwarnings("ignore", message="Accessing the database during app initialization")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
