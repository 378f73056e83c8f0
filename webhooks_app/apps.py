from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks_app"
    verbose_name = _("Webhooks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webhooks_app import checks  # noqa: F401 - registers the system checks

        # Each installed app's webhooks.py registers its event types (as admin.py
        # registers models); importing runs no query.
        autodiscover_modules("webhooks")
