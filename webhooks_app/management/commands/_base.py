"""What the management commands share: output that follows ``--verbosity``."""

from __future__ import annotations

from django.core.management.base import BaseCommand


class WebhooksCommand(BaseCommand):
    """A command whose messages follow Django's verbosity convention.

    ``-v 0`` prints nothing but errors, ``-v 1`` (the default) the outcome,
    ``-v 2`` details and progress too. Progress also shows at ``-v 1`` on a
    terminal, where it helps, never in a log or a pipe.
    """

    verbosity = 1

    def execute(self, *args, **options):
        self.verbosity = options.get("verbosity", 1)
        return super().execute(*args, **options)

    def report(self, message: str, *, level: int = 1) -> None:
        """Print ``message`` when the verbosity is at least ``level``."""
        if self.verbosity >= level:
            self.stdout.write(message)

    def shows_progress(self) -> bool:
        return self.verbosity >= 2 or (self.verbosity >= 1 and self.stderr.isatty())
