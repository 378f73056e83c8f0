"""Model-change events, the public door: ``model_events.register(Order, events=..., ...)``.

The code is :mod:`webhooks_app.sending.model_events`; this path stays as documented.
"""

from webhooks_app.sending.model_events import ModelEvents, get, register, unregister

__all__ = ["ModelEvents", "get", "register", "unregister"]
