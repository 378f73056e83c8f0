"""The settings reference's tables (docs/settings.md), written from the declarations.

The page's prose is written by hand; each table sits between
``<!-- settings:GROUP:start -->`` and ``<!-- settings:GROUP:end -->`` and is rewritten from
the keys declared with that group, in their order. Rewrite the page after changing a
declaration (``tests/test_docs.py`` fails while it lags behind)::

    python -m webhooks_app.conf.reference docs/settings.md
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webhooks_app.conf.registry import SETTINGS
from webhooks_app.conf.setting import Setting

LISTED_BELOW = frozenset({"INBOUND_HEADERS"})
"""Keys whose default is too long for a table cell: the page lists it in a section of its own."""

BLOCK = re.compile(
    r"(?P<start><!-- settings:(?P<group>[a-z_]+):start -->\n)"
    r".*?"
    r"(?P<end><!-- settings:(?P=group):end -->)",
    re.DOTALL,
)


def literal(value: Any, *, nested: bool = False) -> str:
    """``value`` as a Python literal that reads well: double quotes, ``86_400``.

    Whole numbers of five digits or more are grouped with underscores, except inside a
    list (a schedule reads better as ``[5, 300, 1800, 7200, 18000]``).
    """
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return f"{value:_}" if not nested and abs(value) >= 10_000 else str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(literal(item, nested=True) for item in value) + "]"
    if isinstance(value, tuple):
        items = [literal(item, nested=True) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, dict):
        pairs = (f"{literal(k, nested=True)}: {literal(v, nested=True)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(f"no literal for {value!r}")


def default_cell(setting: Setting) -> str:
    return "the list below" if setting.name in LISTED_BELOW else f"`{literal(setting.default)}`"


def table(group: str, settings: Sequence[Setting] = SETTINGS) -> str:
    """The Markdown table of one group's keys: key, default, meaning."""
    rows = [
        f"| `{setting.name}` | {default_cell(setting)} | {setting.description} |"
        for setting in settings
        if setting.group == group
    ]
    return "\n".join(["| key | default | meaning |", "| --- | --- | --- |", *rows]) + "\n"


def render(page: str, settings: Sequence[Setting] = SETTINGS) -> str:
    """``page`` with every group's table rewritten; every group must have one block."""
    declared = list(dict.fromkeys(setting.group for setting in settings))
    found = [match["group"] for match in BLOCK.finditer(page)]
    if sorted(found) != sorted(declared):
        raise ValueError(
            f"the page's table blocks {found} do not match the declared groups {declared}"
        )
    return BLOCK.sub(
        lambda match: match["start"] + table(match["group"], settings) + match["end"], page
    )


def main(argv: Sequence[str]) -> int:
    """Rewrite the page named by the one argument; exit 1 when it changed."""
    if len(argv) != 1:
        print("usage: python -m webhooks_app.conf.reference docs/settings.md", file=sys.stderr)
        return 2
    path = Path(argv[0])
    page = path.read_text(encoding="utf-8")
    rendered = render(page)
    if rendered == page:
        return 0
    path.write_text(rendered, encoding="utf-8")
    print(f"rewrote {path}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
