"""What declaring one ``WEBHOOKS`` key takes: its default, validator and description."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Validator = Callable[[Any], str | None]
"""Takes a value; returns what is wrong with it (``"must be …"``), or None when it is fine."""

NAME = re.compile(r"[A-Z][A-Z0-9_]*")
GROUP = re.compile(r"[a-z][a-z_]*")


@dataclass(frozen=True)
class Setting:
    """One key of the ``WEBHOOKS`` dict, declared once.

    The system checks run ``validate`` on the project's value; the settings reference
    (docs/settings.md) shows ``default`` and ``description`` (Markdown, one paragraph) in
    the table of ``group``. A declaration that leaves something out, or whose default its
    own validator refuses, fails when the registry is imported, before any test runs.
    """

    name: str
    default: Any
    validate: Validator
    description: str
    group: str

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"{self.name!r}: a setting's name is upper case, like RETRY_SCHEDULE")
        if not callable(self.validate):
            raise TypeError(f"{self.name}: validate must be a function, not {self.validate!r}")
        if not self.description.strip() or "\n\n" in self.description:
            raise ValueError(f"{self.name}: the description is one paragraph, not empty")
        if not GROUP.fullmatch(self.group):
            raise ValueError(f"{self.name}: the group is a lower-case word, not {self.group!r}")
        problem = self.validate(self.default)
        if problem is not None:
            raise ValueError(f"{self.name}: the default {self.default!r} {problem}")
