"""Fan out events left unexpanded and wake workers for due deliveries (one pass or --loop)."""

from __future__ import annotations

import time

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from webhooks_app.management.commands._base import WebhooksCommand
from webhooks_app.receivers.processing import sweep_pending
from webhooks_app.sending.sweep import sweep


class Command(WebhooksCommand):
    help = (
        "Fan out events left unexpanded, wake workers for every due, unleased pending "
        "delivery, and re-enqueue inbound events left pending (one pass, or --loop)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep sweeping until stopped.")
        parser.add_argument(
            "--interval", type=float, default=30.0, help="Seconds between passes with --loop."
        )
        parser.add_argument(
            "--max-passes", type=int, default=None, help="Stop --loop after this many passes."
        )

    def handle(self, *args, loop: bool, interval: float, max_passes: int | None, **options):
        if interval <= 0:
            raise CommandError(_("--interval must be positive"))
        if max_passes is not None and max_passes < 1:
            raise CommandError(_("--max-passes must be at least 1"))
        passes = 0
        while True:
            count, inbound = sweep(), sweep_pending()
            passes += 1
            self.report(
                ngettext(
                    "Woke workers for %(count)d due delivery.",
                    "Woke workers for %(count)d due deliveries.",
                    count,
                )
                % {"count": count}
            )
            if inbound:
                self.report(
                    ngettext(
                        "Enqueued %(count)d pending inbound event.",
                        "Enqueued %(count)d pending inbound events.",
                        inbound,
                    )
                    % {"count": inbound}
                )
            if not loop or (max_passes is not None and passes >= max_passes):
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return
