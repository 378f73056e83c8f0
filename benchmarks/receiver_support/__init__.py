"""Support code for ``benchmarks/receiver_speed.py``: a small Django project served by gunicorn.

Two routes receive the same signed Standard Webhooks requests: ``/ours/``, a
``WebhookReceiverView`` subclass, and ``/hand/``, a hand-written Django view
doing the same HMAC check, JSON parse and ``get_or_create``. Both write one
:class:`~benchmarks.receiver_support.models.HandledRow` per new event.
"""
