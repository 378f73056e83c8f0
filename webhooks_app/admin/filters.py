"""List filters whose choices come from small, indexed queries."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model
from django.utils.translation import gettext_lazy as _

from webhooks_app import tenancy
from webhooks_app.models import Endpoint

# Most choices a filter lists; the search box finds the rest.
MAX_CHOICES = 100


class DistinctValuesFilter(admin.SimpleListFilter):
    """A filter on one column whose choices are that column's distinct non-empty values.

    The choices come from an index on ``model.<column>``, not from the list's
    own (joined, possibly huge) queryset as ``AllValuesFieldListFilter`` would.
    Subclasses (made by the factories below) set ``model``, ``column`` and
    ``field_path``, the path from the listed model to the column.
    """

    model: type[Model]
    column: str
    field_path: str

    def lookups(self, request, model_admin):
        values = (
            self.model.objects.exclude(**{self.column: ""})
            .order_by(self.column)
            .values_list(self.column, flat=True)
            .distinct()[:MAX_CHOICES]
        )
        return [(value, value) for value in values]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.field_path: self.value()})
        return queryset


def event_type_filter(model: type[Model], field_path: str = "event_type"):
    """A filter on ``field_path`` whose choices are the distinct types of ``model``."""
    return type(
        "EventTypeFilter",
        (DistinctValuesFilter,),
        {
            "title": _("event type"),
            "parameter_name": "event_type",
            "model": model,
            "column": "event_type",
            "field_path": field_path,
        },
    )


OPERATOR_CHOICE = "__operator__"
"""The tenant filter's value for tenant "" (an empty query-string value would mean "all")."""

OPERATOR_LABEL = _("The operator's own")


class _TenantFilter(DistinctValuesFilter):
    """The operator's own, or one tenant: the project's ``TENANT_CHOICES``, or else the
    first tenants by key, by their names. Any other is reached by the search box,
    ``=key``, or by ``?tenant=key`` in the URL."""

    title = _("tenant")
    parameter_name = "tenant"
    column = "tenant"

    def lookups(self, request, model_admin):
        listed = tenancy.choices()
        if listed is None:
            keys = [key for key, _key in super().lookups(request, model_admin)]
            listed = [(key, tenancy.label(key)) for key in keys]
        return [(OPERATOR_CHOICE, OPERATOR_LABEL), *listed[:MAX_CHOICES]]

    def queryset(self, request, queryset):
        if self.value() == OPERATOR_CHOICE:
            return queryset.filter(**{self.field_path: ""})
        return super().queryset(request, queryset)


def tenant_filter(model: type[Model], field_path: str = "tenant"):
    """A filter on ``field_path`` (a tenant key): the operator's own, or one tenant."""
    return type("TenantFilter", (_TenantFilter,), {"model": model, "field_path": field_path})


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


class OrderingKeyFilter(admin.SimpleListFilter):
    """Deliveries of one ordering key (``?ordering_key=…``), reached from a delivery's page.

    It lists no choices (keys are many, and only pending deliveries are indexed
    by key): it shows only while in use, with the key in force and "All".
    """

    title = _("ordering key")
    parameter_name = "ordering_key"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(ordering_key=self.value())
        return queryset
