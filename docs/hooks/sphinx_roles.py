"""MkDocs hook: render the reStructuredText habits of the docstrings as Markdown would.

The docstrings are written for reading in the source, Sphinx-style; mkdocstrings renders
them as Markdown, which leaves two habits showing:

- roles before code spans, ``:func:`send_event``` (and ``:class:`~x.Y```, whose ``~``
  means "show the last part"), which would read ":func:send_event";
- ``::`` at the end of a paragraph that introduces an indented example, which Markdown
  already shows as a code block.

Only a role directly before a rendered code span, and only ``::`` that ends a
paragraph, are changed, so code blocks that show either are left alone.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj):<code>(?:~(?:\w+\.)*)?")
LITERAL_BLOCK_ALONE = re.compile(r"<p>::</p>\s*")
LITERAL_BLOCK_END = re.compile(r"::</p>")


def on_page_content(html: str, **kwargs: Any) -> str:
    html = ROLE.sub("<code>", html)
    html = LITERAL_BLOCK_ALONE.sub("", html)
    return LITERAL_BLOCK_END.sub(":</p>", html)
