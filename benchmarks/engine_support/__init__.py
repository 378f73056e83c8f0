"""Support code for ``benchmarks/engine.py``: settings, a Celery app, a receiver, scenarios.

Nothing here is imported by ``webhooks_app`` or its tests; the harness talks to
the engine only through ``send_event``, ``Endpoint``, ``Delivery``, ``Attempt``
and the ``WEBHOOKS`` settings.
"""
