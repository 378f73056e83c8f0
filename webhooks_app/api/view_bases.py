"""What the REST API's views share: permissions, pagination, query filters and errors.

Every view takes its permissions from ``WEBHOOKS["API_PERMISSION_CLASSES"]`` and
the model permissions of what it does (``action_permissions`` for the actions,
see :mod:`webhooks_app.api.permissions`), and its page size from
``WEBHOOKS["API_PAGE_SIZE"]``, both read per request. The staff views
(:mod:`webhooks_app.api.views`) and the customer-facing ones
(:mod:`webhooks_app.api.tenant_views`) build on these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.pagination import BasePagination
from rest_framework.parsers import BaseParser
from rest_framework.routers import APIRootView

from webhooks_app.api import parsers
from webhooks_app.api.filters import QueryFilterBackend
from webhooks_app.api.pagination import WebhooksPagination
from webhooks_app.api.permissions import ConfiguredPermissionsMixin
from webhooks_app.api.schema import ActionSchema
from webhooks_app.tenancy import TENANT_MAX_LENGTH

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise


class Conflict(APIException):
    """409: the object is not in a state the action applies to."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def datetime_filter(help_text: _StrOrPromise) -> serializers.DateTimeField:
    """A query filter's field for a moment (ISO 8601)."""
    return serializers.DateTimeField(help_text=help_text)


def tenant_filter() -> serializers.CharField:
    """A query filter's field for a tenant key."""
    return serializers.CharField(max_length=TENANT_MAX_LENGTH, help_text=_("Tenant key."))


class WebhooksViewSetMixin(ConfiguredPermissionsMixin):
    """The API's permissions, pagination and query filters, for every viewset."""

    pagination_class: type[BasePagination] | None = WebhooksPagination
    filter_backends: Sequence[Any] = [QueryFilterBackend]
    query_filters: dict = {}
    schema_actions: dict[str, ActionSchema] = {}
    # Permission codenames (of webhooks_app) each custom action needs.
    action_permissions: dict[str, tuple[str, ...]] = {}

    parser_classes: Sequence[type[BaseParser]]  # DRF's: the project's parsers by default

    def get_parsers(self) -> list[BaseParser]:
        """The view's parsers, refusing with 400 what cannot be processed or stored."""
        return parsers.storable([parser() for parser in self.parser_classes])


class WebhooksAPIRootView(ConfiguredPermissionsMixin, APIRootView):
    """Links to the API's collections."""
