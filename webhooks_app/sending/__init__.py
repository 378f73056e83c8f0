"""Sending webhooks: the outbox, fan-out, claims, one try, recording and the engine loop.

No Celery in here: work is handed to the task runner by name (:mod:`webhooks_app.wakeups`).
"""
