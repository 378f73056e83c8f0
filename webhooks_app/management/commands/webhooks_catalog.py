"""Print the event-type catalog: an OpenAPI 3.1 document (JSON or YAML) or Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webhooks_app import event_types
from webhooks_app.event_types import documents

FORMATS = ("openapi", "openapi-yaml", "markdown")


class Command(BaseCommand):
    help = (
        "Print the registered event types for the people who receive your webhooks: an "
        "OpenAPI 3.1 document whose webhooks section has one entry per type (JSON, or YAML "
        "with --format openapi-yaml), or a Markdown page."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--format", choices=FORMATS, default="openapi", help="Default: openapi."
        )
        parser.add_argument("--output", "-o", help="Write to this file instead of stdout.")
        parser.add_argument("--title", help='The document\'s title (WEBHOOKS["CATALOG_INFO"]).')
        parser.add_argument(
            "--api-version", help='The document\'s version (WEBHOOKS["CATALOG_INFO"]).'
        )

    def handle(self, *args, format: str, output: str | None, **options) -> None:
        labels = {"title": options["title"], "version": options["api_version"]}
        if format == "markdown":
            text = documents.markdown(**labels)
        else:
            document = documents.openapi_document(**labels)
            if format == "openapi-yaml":
                text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
            else:
                text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if not event_types.all():
            self.stderr.write("No event types are registered (see docs/event-types.md).")
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc}") from None
        self.stdout.write(f"Wrote {len(event_types.all())} event types to {output}.")
