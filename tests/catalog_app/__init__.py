"""A tiny installed app whose ``webhooks.py`` registers an event type (autodiscovery tests)."""
