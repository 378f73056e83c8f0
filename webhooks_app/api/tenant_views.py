"""Viewsets of the customer-facing API: the staff viewsets, scoped to one tenant.

Every view acts for the tenant that ``WEBHOOKS["TENANT_RESOLVER"]`` finds for the
request (:func:`webhooks_app.tenancy.resolve`, called once per request, after DRF's
authentication: the resolver sees ``request.user``). Who may come in is
:class:`~webhooks_app.api.permissions.TenantPermission`: an authenticated user acting
for a tenant; no model permissions, no ``API_PERMISSION_CLASSES``.

Querysets hold that tenant's objects alone, so another tenant's object answers 404 on
every route and action, exactly as a missing one does. The tenant never comes from a
request body: a new endpoint is the resolved tenant's, and ``tenant`` is read-only
here (a ``tenant`` key sent on create, PUT or PATCH is ignored, as DRF ignores every
read-only field). The owner sees the secrets and credentials of its own endpoints.

Customers manage their endpoints (with the test event, reveal and rotate secret,
enable and disable actions, and their statistics), read the event-type catalog (the
same for every tenant: types are registered in code), read their events (they receive
events; creating them is the operator's business, so POST answers 405) and their
deliveries with attempts, and retry a delivery. Cancelling deliveries and inbound
events stay in the staff API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.functional import cached_property
from django.utils.translation import ngettext
from rest_framework.permissions import BasePermission
from rest_framework.routers import APIRootView

from webhooks_app import conf, operations, tenancy
from webhooks_app.api import staff_views, views
from webhooks_app.api.permissions import TenantPermission
from webhooks_app.api.schema import SchemaView
from webhooks_app.api.view_bases import Conflict


class EndpointLimitReached(Conflict):
    default_code = "endpoint_limit_reached"

    def __init__(self, limit: int) -> None:
        message = ngettext(
            "This account may have at most %(limit)d endpoint; delete it to add another.",
            "This account may have at most %(limit)d endpoints; delete one to add another.",
            limit,
        ) % {"limit": limit}
        super().__init__(message)


if TYPE_CHECKING:  # the mixins are used on DRF views
    from rest_framework.generics import GenericAPIView as _ViewBase
else:
    _ViewBase = object


class TenantAccessMixin(_ViewBase):
    """Lets in the users that act for a tenant (:class:`TenantPermission`), nobody else."""

    def get_permissions(self) -> list[BasePermission]:
        return [TenantPermission()]

    @cached_property
    def tenant(self) -> str | None:
        """The tenant this request acts for; None when the resolver finds none (or the
        schema is being generated: views are described without a request)."""
        return None if self.request is None else tenancy.resolve(self.request)


class TenantScopedMixin(TenantAccessMixin):
    """A staff viewset narrowed to the request's tenant."""

    # ORM paths from the view's model to its tenant; an object must match on each.
    tenant_lookups: tuple[str, ...] = ("tenant",)
    query_filters: dict

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.tenant is None:
            return queryset.none()
        return queryset.filter(**{lookup: self.tenant for lookup in self.tenant_lookups})

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "tenant": self.tenant}

    def __init_subclass__(cls, **kwargs) -> None:
        """The staff view's filters but ``tenant``, which is the request's here."""
        super().__init_subclass__(**kwargs)
        filters = getattr(cls, "query_filters", {})
        cls.query_filters = {name: spec for name, spec in filters.items() if name != "tenant"}


class EndpointViewSet(TenantScopedMixin, views.EndpointViewSet):
    """Your webhook endpoints, where your events are sent.

    The secret is returned in the create response, and then by the ``reveal-secret``
    and ``rotate-secret`` actions.
    """

    def create(self, request, *args, **kwargs):
        """Add an endpoint (up to ``WEBHOOKS["MAX_ENDPOINTS_PER_TENANT"]``: 409 beyond)."""
        if operations.endpoint_limit_reached(self.tenant):
            raise EndpointLimitReached(conf.get("MAX_ENDPOINTS_PER_TENANT"))
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer) -> None:
        serializer.save(tenant=self.tenant)


class EventViewSet(TenantScopedMixin, views.BaseEventViewSet):
    """Your events, immutable, each with its deliveries to your endpoints."""

    def get_delivery_queryset(self):
        return super().get_delivery_queryset().filter(endpoint__tenant=self.tenant)


class DeliveryViewSet(TenantScopedMixin, views.BaseDeliveryViewSet):
    """Deliveries of your events to your endpoints, with the attempts made."""

    # Both agree, unless staff moved an endpoint to another tenant since.
    tenant_lookups = ("endpoint__tenant", "event__tenant")


class EventTypeViewSet(TenantAccessMixin, staff_views.EventTypeViewSet):
    """The types of the events sent, with their descriptions, payload schemas and examples."""


class TenantAPIRootView(TenantAccessMixin, APIRootView):
    """Links to your endpoints, events and deliveries, and to the event types."""


class TenantSchemaView(TenantAccessMixin, SchemaView):
    """The OpenAPI document of the customer-facing API."""

    title = "Webhooks API"
    description = "Manage your webhook endpoints; follow your events and their deliveries."
