"""The example project: a small shop that sends webhooks (and, for the demo, receives them).

Importing the Celery app here makes ``shared_task`` (and so ``send_event``)
use it in every process that loads the settings: the web server, the worker
and ``demo.py``.
"""

from demo_site.celery import app as celery_app

__all__ = ["celery_app"]
