"""The example project's Celery app.

Start a worker (and, for the demo, an embedded beat) from ``example_project/``::

    celery -A demo_site worker --beat --loglevel=INFO
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")

app = Celery("demo_site")
# Every CELERY_* setting in settings.py configures the app (CELERY_BROKER_URL, ...).
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds webhooks_app.tasks (deliver, sweep) and the tasks of the project's own apps.
app.autodiscover_tasks()

# The sweep re-enqueues every pending delivery that is due and not leased: it
# recovers lost broker messages, killed workers and retries too long for a countdown.
app.conf.beat_schedule = {
    "webhooks-sweep": {"task": "webhooks_app.tasks.sweep", "schedule": 10.0},
}
