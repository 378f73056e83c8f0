"""Model instances from hand-written SQL, converted exactly as the ORM converts them.

The claim runs on every few deliveries, and building its statements through
the ORM cost more Python time than the database took to run them; so it is
written in SQL (:mod:`webhooks_app.claims`). This module gives such SQL its
column lists and turns its rows back into model instances, with each
backend's own converters (SQLite's text datetimes, JSON, booleans).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@lru_cache(maxsize=64)
def _select_list(vendor: str, model: type[Model], alias: str) -> str:
    return ", ".join(
        f"{alias}.{connection.ops.quote_name(str(field.column))}"
        if alias
        else connection.ops.quote_name(str(field.column))
        for field in model._meta.concrete_fields
    )


def select_list(model: type[Model], alias: str) -> str:
    """Every concrete column of ``model``, qualified by ``alias``, in field order."""
    return _select_list(connection.vendor, model, alias)


def column_list(model: type[Model]) -> str:
    """Every concrete column of ``model``, unqualified (for ``RETURNING``: SQLite allows
    no table name there), in field order."""
    return _select_list(connection.vendor, model, "")


def width(model: type[Model]) -> int:
    return len(model._meta.concrete_fields)


def instance(model: type[M], values: Sequence[Any]) -> M:
    """One row of :func:`select_list` columns as a loaded instance of ``model``."""
    converters = _converters(model)
    converted = [
        _convert(value, steps) if steps else value
        for value, steps in zip(values, converters, strict=True)
    ]
    return model.from_db(
        connection.alias, [field.attname for field in model._meta.concrete_fields], converted
    )


def value(model: type[Model], name: str, raw: Any) -> Any:
    """One column's raw value, converted as field ``name`` of ``model`` would be."""
    fields = model._meta.concrete_fields
    index = next(i for i, field in enumerate(fields) if field.name == name)
    steps = _converters(model)[index]
    return _convert(raw, steps) if steps else raw


def adapt(value: Any) -> Any:
    """A datetime parameter as this backend stores it (SQLite compares text)."""
    return connection.ops.adapt_datetimefield_value(value)


Converter = Callable[[Any, Any, Any], Any]
_cache: dict[tuple[str, type[Model]], list[list[tuple[Converter, Any]]]] = {}


def _converters(model: type[Model]) -> list[list[tuple[Converter, Any]]]:
    key = (connection.vendor, model)
    if key not in _cache:
        steps = []
        for field in model._meta.concrete_fields:
            expression = field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(expression) + expression.get_db_converters(
                connection
            )
            steps.append([(converter, expression) for converter in found])
        _cache[key] = steps
    return _cache[key]


def _convert(value: Any, steps: list[tuple[Converter, Any]]) -> Any:
    for converter, expression in steps:
        value = converter(value, expression, connection)
    return value
