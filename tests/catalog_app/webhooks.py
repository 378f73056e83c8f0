"""Imported by webhooks_app's ``ready()`` when ``tests.catalog_app`` is installed."""

from webhooks_app import event_types

event_types.register(
    "catalog_app.widget.created",
    description="A widget was created.",
    schema={"type": "object", "properties": {"widget_id": {"type": "integer"}}},
    example={"widget_id": 1},
)
