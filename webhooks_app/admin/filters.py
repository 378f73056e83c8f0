"""List filters whose choices come from small, indexed queries."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model
from django.utils.translation import gettext_lazy as _

from webhooks_app.models import Endpoint

# Most choices a filter lists; the search box finds the rest.
MAX_CHOICES = 100


def event_type_filter(model: type[Model], field_path: str = "event_type"):
    """A filter on ``field_path`` whose choices are the distinct types of ``model``.

    The choices come from an index on ``model.event_type``, not from the list's
    own (joined, possibly huge) queryset as ``AllValuesFieldListFilter`` would.
    """

    class EventTypeFilter(admin.SimpleListFilter):
        title = _("event type")
        parameter_name = "event_type"

        def lookups(self, request, model_admin):
            types = (
                model.objects.exclude(event_type="")
                .order_by("event_type")
                .values_list("event_type", flat=True)
                .distinct()[:MAX_CHOICES]
            )
            return [(value, value) for value in types]

        def queryset(self, request, queryset):
            if self.value():
                return queryset.filter(**{field_path: self.value()})
            return queryset

    return EventTypeFilter


def tenant_filter(model: type[Model], field_path: str = "tenant"):
    """A filter on ``field_path`` (a tenant key): the operator's own, or one tenant.

    Its choices are the operator and the first tenants of ``model`` by key
    (from the tenant index); any other tenant is reached by the search box
    (``=key``) or by ``?tenant=key`` in the URL.
    """

    class TenantFilter(admin.SimpleListFilter):
        title = _("tenant")
        parameter_name = "tenant"

        def lookups(self, request, model_admin):
            tenants = (
                model.objects.exclude(tenant="")
                .order_by("tenant")
                .values_list("tenant", flat=True)
                .distinct()[:MAX_CHOICES]
            )
            return [(OPERATOR_CHOICE, _("The operator's own")), *((t, t) for t in tenants)]

        def queryset(self, request, queryset):
            value = self.value()
            if value is None:
                return queryset
            return queryset.filter(**{field_path: "" if value == OPERATOR_CHOICE else value})

    return TenantFilter


OPERATOR_CHOICE = "__operator__"
"""The filter's value for tenant "" (an empty query-string value would mean "all")."""


def _patterns(event_types) -> list[str]:
    """The string patterns of a stored filter; nothing of a value no form could save."""
    if not isinstance(event_types, list):
        return []
    return [pattern for pattern in event_types if isinstance(pattern, str)]


class SubscriptionFilter(admin.SimpleListFilter):
    """Endpoints by the patterns of their event-type filter."""

    title = _("event types")
    parameter_name = "subscribed"
    ALL = "__all__"

    def lookups(self, request, model_admin):
        patterns = sorted({p for types in self._endpoint_types() for p in _patterns(types)})[
            :MAX_CHOICES
        ]
        # "All" (the first choice, Django's) lists every endpoint; this one, those that
        # subscribe to every type.
        return [(self.ALL, _("Subscribed to every type")), *((p, p) for p in patterns)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        # Endpoints are few; JSON containment is not portable (SQLite lacks it).
        matching = [
            pk
            for pk, types in Endpoint.objects.values_list("pk", "event_types")
            if (not types if value == self.ALL else value in _patterns(types))
        ]
        return queryset.filter(pk__in=matching)

    @staticmethod
    def _endpoint_types():
        return Endpoint.objects.values_list("event_types", flat=True)


class HealthFilter(admin.SimpleListFilter):
    """Endpoints by their current failure streak."""

    title = _("health")
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [("healthy", _("Healthy")), ("failing", _("Failing"))]

    def queryset(self, request, queryset):
        if self.value() == "healthy":
            return queryset.filter(failure_streak=0)
        if self.value() == "failing":
            return queryset.filter(failure_streak__gt=0)
        return queryset
