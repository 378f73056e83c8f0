"""A tiny installed app whose models send model-change events (tests/sending/test_model_events.py).

Its ``webhooks.py`` registers ``Order`` (a DRF serializer, the shop as tenant), as a
project would; the tests register ``Note`` themselves, with a function serializer.
It has no migrations: the test database is created from its models.
"""
