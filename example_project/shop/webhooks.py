"""The shop's event types, registered when Django starts (webhooks_app imports every
installed app's ``webhooks.py``).

``manage.py webhooks_catalog --format markdown`` prints them for the people who receive
the shop's webhooks; with ``WEBHOOKS["VALIDATE_PAYLOADS"]`` (on in demo_site/settings.py)
``send_event`` refuses a payload that does not match its type's schema.
"""

from webhooks_app import event_types

MONEY = {"type": "string", "pattern": r"^\d+\.\d{2}$", "description": "Decimal, 2 places."}

event_types.register(
    "order.created",
    description="An order was placed. Sent once per order, in the order's transaction.",
    schema={
        "type": "object",
        "properties": {
            "order_id": {"type": "integer"},
            "customer": {"type": "string"},
            "total": MONEY,
        },
        "required": ["order_id", "customer", "total"],
    },
    example={"order_id": 42, "customer": "Ada", "total": "12.50"},
)

event_types.register(
    "order.paid",
    description="An order was paid in full.",
    schema={
        "type": "object",
        "properties": {
            "order_id": {"type": "integer"},
            "amount": MONEY,
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
        "required": ["order_id", "amount", "currency"],
    },
    example={"order_id": 42, "amount": "12.50", "currency": "EUR"},
)

event_types.register(
    "order.updated",
    description="An order changed. Replaced by order.created and order.paid.",
    schema={"type": "object", "properties": {"order_id": {"type": "integer"}}},
    example={"order_id": 42},
    deprecated=True,
)
