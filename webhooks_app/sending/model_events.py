"""Model-change events: ``send_event`` on a model's create, update and delete, through the outbox.

::

    # shop/webhooks.py (imported by webhooks_app's AppConfig.ready(), like admin.py)
    from webhooks_app import model_events
    from shop.models import Order
    from shop.serializers import OrderSerializer

    model_events.register(
        Order,
        events={"created": "order.created", "updated": "order.updated",
                "deleted": "order.deleted"},
        serializer=OrderSerializer,      # a DRF serializer class, or f(instance) -> dict
        tenant="shop_id",                # an attribute (dotted path) or f(instance); None: operator
    )

The event is written **in the transaction of the model change** (``post_save`` and
``post_delete`` run inside it), never from ``on_commit``: a rollback leaves no
event, a commit always leaves one, even if the process dies right after it.

**Coalescing.** Inside an atomic block, the first change of an object (per
registered model and pk, per outermost transaction) inserts its event; further
changes of that object update the not-yet-committed row (no other transaction
sees it, and fan-out reads committed rows only), so the transaction leaves one
event with the final payload:

========================  =======================================
changes in a transaction  event left at commit
========================  =======================================
created, updated...       ``created`` with the latest payload
updated, updated...       ``updated`` with the latest payload
updated..., deleted       ``deleted`` (the payload before the delete)
created..., deleted       none: the object never existed outside
deleted, created again    ``updated`` (the pk exists, with new content)
========================  =======================================

A kind that ``events`` leaves out is followed all the same (created + updated
still sends ``created`` with the latest payload when ``updated`` is not mapped).

**Savepoints.** What a transaction has written so far (each object's net change
and the id of its event) is kept with :func:`~webhooks_app.sending.on_commit.remember`,
in markers registered with ``transaction.on_commit``: Django drops the callbacks
of a savepoint that rolls back (and all of them on a rollback), exactly as the
database drops that savepoint's writes, so the bookkeeping cannot outlive the
event row it describes; after a savepoint rollback the object's state is the
one remembered before it.

**Outside an atomic block** (autocommit) every save is its own transaction and
sends its own event. Django commits ``Model.save()``'s row before
``post_save`` runs there, so the event is a second commit: use
``ATOMIC_REQUESTS`` or ``transaction.atomic()`` for the guarantee. (A delete
runs its signals inside Django's own atomic block, so it is one commit.)

**Not covered**: ``QuerySet.update()``, ``bulk_create()``, ``bulk_update()`` and
raw SQL send no signals, hence no events (``QuerySet.delete()`` does send them);
fixtures loaded with ``loaddata`` (``raw`` saves) send none either. The model
and ``Event`` must live in one database for the guarantee.

Cost: nothing at all for a model that is not registered (no receiver is
connected); one INSERT per changed object per transaction, one UPDATE per
further change of it.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models, router, transaction
from django.db.models.signals import post_delete, post_save, pre_delete

import webhooks_app
from webhooks_app import conf, event_types
from webhooks_app.sending import on_commit
from webhooks_app.tenancy import tenant_key

__all__ = ["KINDS", "ModelEvents", "get", "register", "unregister"]

CREATED, UPDATED, DELETED = "created", "updated", "deleted"
KINDS = (CREATED, UPDATED, DELETED)
"""The changes a registration may map to event types."""


@dataclass(frozen=True)
class ModelEvents:
    """One model's registration (what :func:`register` returns)."""

    model: type[models.Model]
    events: Mapping[str, str]
    serialize: Callable[[models.Model], Any]
    tenant_of: Callable[[models.Model], Any]

    def tenant(self, instance: models.Model) -> str:
        return tenant_key(self.tenant_of(instance))


_registry: dict[type[models.Model], ModelEvents] = {}


def register(
    model: type[models.Model],
    *,
    events: Mapping[str, str],
    serializer: Callable[[models.Model], Any] | None = None,
    fields: Sequence[str] | None = None,
    tenant: str | Callable[[models.Model], Any] | None = None,
) -> ModelEvents:
    """Send ``events[kind]`` when an instance of ``model`` is created, updated or deleted.

    ``events`` maps some of ``"created"``, ``"updated"``, ``"deleted"`` to event
    types. The payload comes from ``serializer`` (a DRF serializer class, called
    as ``Serializer(instance).data``, or a function ``f(instance)``), or from
    ``fields``, a list of the model's concrete fields sent as they are stored
    (a foreign key as its pk); give exactly one, so that nothing is published by
    default. ``tenant`` is an attribute name (dotted for a path, ``"shop_id"``
    costs no query) or ``f(instance)``, returning a tenant key or a model
    instance; None sends to the operator's endpoints. Deletes are serialized
    before the row goes.

    Raises ``ImproperlyConfigured`` for a mistake, and for a model registered twice.
    """
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        raise ImproperlyConfigured(f"model_events.register() takes a model class, not {model!r}.")
    label = model._meta.label
    events = _check_events(label, events)
    serialize = _serializer(label, model, serializer, fields)
    registration = ModelEvents(model, events, serialize, _tenant_getter(label, tenant))
    if model in _registry:
        raise ImproperlyConfigured(
            f"{label} is already registered for model events; each model is registered once."
        )
    _registry[model] = registration
    uid = _dispatch_uid(model)
    post_save.connect(_saved, sender=model, weak=False, dispatch_uid=uid)
    pre_delete.connect(_deleting, sender=model, weak=False, dispatch_uid=uid)
    post_delete.connect(_deleted, sender=model, weak=False, dispatch_uid=uid)
    return registration


def unregister(model: type[models.Model]) -> None:
    """Stop sending events for ``model`` (tests, mostly); unknown models are ignored."""
    if _registry.pop(model, None) is None:
        return
    uid = _dispatch_uid(model)
    for signal in (post_save, pre_delete, post_delete):
        signal.disconnect(sender=model, dispatch_uid=uid)


def get(model: type[models.Model]) -> ModelEvents | None:
    """The registration of ``model``, or None."""
    return _registry.get(model)


def _dispatch_uid(model: type[models.Model]) -> str:
    return f"webhooks_app.model_events:{model._meta.label}"


# --- registration checks -------------------------------------------------------------


def _check_events(label: str, events: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(events, Mapping) or not events:
        raise ImproperlyConfigured(
            f"The events of {label} map some of {', '.join(KINDS)} to event types."
        )
    unknown = sorted(set(events) - set(KINDS))
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown change {unknown[0]!r} in the events of {label}; use {', '.join(KINDS)}."
        )
    for name in events.values():
        event_types.check_name(name)
    return dict(events)


def _serializer(
    label: str,
    model: type[models.Model],
    serializer: Callable[[models.Model], Any] | None,
    fields: Sequence[str] | None,
) -> Callable[[models.Model], Any]:
    if (serializer is None) == (fields is None):
        raise ImproperlyConfigured(
            f"Model events of {label} need either serializer= or fields= (one of them), "
            "so that nothing is published without being chosen."
        )
    if fields is not None:
        return _fields_serializer(label, model, fields)
    if isinstance(serializer, type):  # a DRF serializer class (or any class with .data)
        serializer_class = serializer
        return lambda instance: serializer_class(instance).data
    if not callable(serializer):
        raise ImproperlyConfigured(
            f"The serializer of {label} is a serializer class or a function, "
            f"not {type(serializer).__name__}."
        )
    return serializer


def _fields_serializer(
    label: str, model: type[models.Model], names: Sequence[str]
) -> Callable[[models.Model], dict]:
    if isinstance(names, str) or not names:
        raise ImproperlyConfigured(f"The fields of {label} are a non-empty list of field names.")
    chosen = []
    for name in names:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            raise ImproperlyConfigured(f"{label} has no field {name!r}.") from None
        if not field.concrete or field.many_to_many:
            raise ImproperlyConfigured(
                f"{label}.{name} is not a concrete field; use a serializer for it."
            )
        chosen.append(field)

    def serialize(instance: models.Model) -> dict:
        return {field.name: field.value_from_object(instance) for field in chosen}

    return serialize


def _tenant_getter(label: str, tenant: Any) -> Callable[[models.Model], Any]:
    if tenant is None:
        return lambda instance: None
    if isinstance(tenant, str):
        return operator.attrgetter(tenant)
    if callable(tenant):
        return tenant
    raise ImproperlyConfigured(
        f"The tenant of {label} is an attribute name or a function, not {type(tenant).__name__}."
    )


# --- signal receivers ----------------------------------------------------------------

# Set on an instance by pre_delete, read by post_delete: (payload, tenant) before the row went.
_BEFORE_DELETE = "_webhooks_app_before_delete"


def _guarded(receiver: Callable[..., None]) -> Callable[..., None]:
    """Run a receiver so that its error (a serializer's, a refused payload) cannot let the
    change commit without its event, even if the caller catches it: in an atomic block, the
    transaction is marked for rollback."""

    @functools.wraps(receiver)
    def guarded(sender, instance, using=None, **kwargs) -> None:
        with transaction.mark_for_rollback_on_error(using):
            receiver(sender, instance, **kwargs)

    return guarded


@_guarded
def _saved(sender, instance, created, raw=False, **kwargs) -> None:
    if raw:  # loaddata: restoring rows is not a change to announce
        return
    registration = _registry[sender]
    _record(
        registration,
        instance.pk,
        CREATED if created else UPDATED,
        registration.serialize(instance),
        registration.tenant(instance),
    )


@_guarded
def _deleting(sender, instance, **kwargs) -> None:
    registration = _registry[sender]
    instance.__dict__[_BEFORE_DELETE] = (
        registration.serialize(instance),
        registration.tenant(instance),
    )


@_guarded
def _deleted(sender, instance, **kwargs) -> None:
    payload, tenant = instance.__dict__.pop(_BEFORE_DELETE)
    _record(_registry[sender], instance.pk, DELETED, payload, tenant)


# --- coalescing ----------------------------------------------------------------------


def _combine(before: str | None, change: str) -> str | None:
    """The net change of an object after ``before`` then ``change`` (None: no change)."""
    if before is None:
        return change
    if change == DELETED:
        return None if before == CREATED else DELETED
    if before == DELETED:  # the pk is back: its content changed
        return UPDATED
    return before  # created or updated, then saved again


def _pending(key: tuple[str, Any], using: str) -> tuple[str | None, str | None]:
    """The object's net change so far in the transaction, and the id of its event."""
    return on_commit.recall(key, using) or (None, None)


def _record(registration: ModelEvents, pk: Any, change: str, payload: Any, tenant: str) -> None:
    """Write, update or withdraw the object's event in the current transaction."""
    connection = transaction.get_connection(router.db_for_write(_event_model()))
    if not connection.in_atomic_block:
        event_type = registration.events.get(change)
        if event_type is not None:
            webhooks_app.send_event(event_type, payload, tenant=tenant)
        return
    key = (registration.model._meta.label, pk)
    before, event_id = _pending(key, connection.alias)
    kind = _combine(before, change)
    event_type = registration.events.get(kind) if kind else None
    if event_id is not None:
        if _rewrite(event_id, event_type, payload, tenant):
            if event_type is None:
                on_commit.remember(key, (kind, None), connection.alias)
            elif kind != before:
                on_commit.remember(key, (kind, event_id), connection.alias)
            return
        # Fanned out already, inside this transaction (fanout.expand_event): that
        # event stands as it is, and this change starts a new one.
        before, kind = None, change
        event_type = registration.events.get(kind)
    if event_type is not None:
        event = webhooks_app.send_event(event_type, payload, tenant=tenant)
        on_commit.remember(key, (kind, event.pk), connection.alias)
    elif kind != before:
        on_commit.remember(key, (kind, None), connection.alias)


def _rewrite(event_id: str, event_type: str | None, payload: Any, tenant: str) -> bool:
    """Update (or, for no event type, delete) the transaction's own unexpanded event.

    Returns False when no such row is left to change (it has been fanned out).
    """
    unexpanded = _event_model().objects.filter(pk=event_id, outbox_entry__isnull=False)
    if event_type is None:
        deleted, _ = unexpanded.delete()
        return bool(deleted)
    if conf.get("VALIDATE_PAYLOADS"):
        event_types.validate_payload(event_type, payload)
    # A queryset update: Event.save() refuses changes to written events, but this row
    # has not been committed, so nobody can have seen it yet.
    return bool(unexpanded.update(event_type=event_type, payload=payload, tenant=tenant))


def _event_model():
    from webhooks_app.models import Event  # here, so that importing this module loads no model

    return Event
