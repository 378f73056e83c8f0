"""Request bodies the parser or the database cannot take answer 400, never 500.

The project's own parsers (``DEFAULT_PARSER_CLASSES``) read the API's bodies; each
is wrapped here so that JSON nested deeper than Python's parser recurses (a
``RecursionError``, not a ``ValueError``, so DRF would answer 500) and a body that
:func:`webhooks_app.validators.json_problem` refuses (a lone surrogate in any field,
which UTF-8 cannot encode; nesting past the limit) are a ``ParseError``. A NUL
character is left to the fields, which refuse it by name (DRF's ``CharField``, and
:class:`~webhooks_app.api.serializers.common.StorableJSONField` for payloads).
"""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from webhooks_app import validators


class StorableBodyParser(BaseParser):
    """Another parser's result, refused with 400 when it cannot be processed or stored."""

    def __init__(self, parser: BaseParser) -> None:
        self.parser = parser
        self.media_type = parser.media_type
        self.renderer_class = getattr(parser, "renderer_class", None)

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            data = self.parser.parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("The body is nested too deeply.")) from None
        if isinstance(data, dict | list) and not isinstance(data, QueryDict):
            problem = validators.json_problem(data, nul=False)
            if problem:
                raise ParseError(problem)
        return data


def storable(parsers: list[BaseParser]) -> list[BaseParser]:
    """``parsers``, each wrapped in :class:`StorableBodyParser`."""
    return [StorableBodyParser(parser) for parser in parsers]
