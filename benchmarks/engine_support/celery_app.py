"""The benchmark's Celery app: webhooks_app's, django-webhook's and the baseline's tasks.

Import it before ``django.setup()``: django-webhook binds its task to
``celery.current_app`` when its app config is ready, so this app must exist by
then or the task would go to Celery's default broker.
"""

import os

from celery import Celery

from benchmarks.engine_support import netguard

netguard.install()  # the producer and every worker import this module first
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.engine_support.settings")

app = Celery("webhooks_bench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
