"""What a transaction holds, read from Django's on-commit callbacks: the one door to them.

Django keeps a transaction's ``transaction.on_commit`` callbacks exactly as long
as the work they were registered with: a savepoint that rolls back drops the
callbacks registered in it (as the database drops its writes), a rollback drops
them all, a commit runs and forgets them. So a callback's presence tells what
the transaction still holds, and bookkeeping kept in callbacks cannot outlive
the rows it describes. Django has no public way to ask which callbacks are
registered, so this module reads its private list, ``connection.run_on_commit``:
``(savepoint_ids, callback, robust)`` tuples on Django 4.2 to 6.1
(``(savepoint_ids, callback)`` before), which Django replaces by a new list
when a savepoint rolls back. No other module touches that list, and
``tests/sending/test_on_commit.py`` exercises this one directly, so a change in
Django fails there first.

- :func:`registered`: whether a callback waits for the commit;
- :func:`remember` and :func:`recall`: a value per key (say, an object's state in
  the transaction) held by a marker callback, found in O(1) through an index
  that is checked against Django's list and rebuilt from it when they disagree.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["recall", "registered", "remember"]


def registered(callback: Callable[[], Any], using: str | None = None) -> bool:
    """Whether ``callback`` is registered to run when the transaction commits.

    False outside an atomic block, where ``on_commit`` runs a callback at once.
    ``using`` is a database alias, as for ``transaction.on_commit``.
    """
    connection = transaction.get_connection(using)
    return connection.in_atomic_block and any(
        function is callback for function in _functions(connection)
    )


def remember(key: Hashable, value: Any, using: str | None = None) -> None:
    """Hold ``value`` for ``key`` until the work done so far commits or rolls back.

    It supersedes the key's earlier values; if the savepoint it was remembered
    in rolls back, :func:`recall` finds the earlier value again. Outside an
    atomic block there is no transaction to hold it for, and nothing is kept.
    """
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        return
    marker = _Marker(key, value)
    index = _index(connection)
    transaction.on_commit(marker, using=connection.alias)
    index.markers[key] = (len(_callbacks(connection)) - 1, marker)


def recall(key: Hashable, using: str | None = None) -> Any:
    """The newest value of ``key`` that the transaction still holds, or None."""
    connection = transaction.get_connection(using)
    found = _index(connection).markers.get(key)
    if found is None:
        return None
    position, marker = found
    callbacks = _callbacks(connection)
    if position < len(callbacks) and _function(callbacks[position]) is marker:
        return marker.value
    found = _rebuild(connection).markers.get(key)  # the list changed in place
    return None if found is None else found[1].value


# -- Django's private list: read here and nowhere else ----------------------------------


def _callbacks(connection: BaseDatabaseWrapper) -> list:
    """The connection's pending on-commit entries, in the order they were registered."""
    return connection.run_on_commit


def _function(entry: tuple) -> Callable[[], Any]:
    """The callback of one entry: second in every shape Django has used."""
    return entry[1]


def _functions(connection: BaseDatabaseWrapper) -> list[Callable[[], Any]]:
    return [_function(entry) for entry in _callbacks(connection)]


# -- the markers and their index ----------------------------------------------------------


class _Marker:
    """A value registered with ``on_commit``; calling it (on commit) does nothing.

    Its presence in Django's list is what makes its value true. A marker is
    never changed, only superseded by a newer one.
    """

    __slots__ = ("key", "value")

    def __init__(self, key: Hashable, value: Any) -> None:
        self.key, self.value = key, value

    def __call__(self) -> None:
        pass


@dataclass
class _Index:
    """The newest marker of each key, and its position, in one list of Django's."""

    callbacks: list
    markers: dict[Hashable, tuple[int, _Marker]]


_indexes: weakref.WeakKeyDictionary[BaseDatabaseWrapper, _Index] = weakref.WeakKeyDictionary()


def _index(connection: BaseDatabaseWrapper) -> _Index:
    index = _indexes.get(connection)
    if index is None or index.callbacks is not _callbacks(connection):
        index = _rebuild(connection)
    return index


def _rebuild(connection: BaseDatabaseWrapper) -> _Index:
    callbacks = _callbacks(connection)
    markers = {
        function.key: (position, function)
        for position, function in enumerate(map(_function, callbacks))
        if isinstance(function, _Marker)
    }
    index = _indexes[connection] = _Index(callbacks, markers)
    return index
