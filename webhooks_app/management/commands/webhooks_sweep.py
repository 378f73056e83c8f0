"""Fan out events left unexpanded and wake workers for due deliveries (one pass or --loop)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandParser

from webhooks_app.delivery import sweep
from webhooks_app.receivers.processing import sweep_pending


class Command(BaseCommand):
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
            self.stderr.write("--interval must be positive")
            raise SystemExit(2)
        passes = 0
        while True:
            count, inbound = sweep(), sweep_pending()
            passes += 1
            self.stdout.write(f"Woke workers for {count} due deliveries.")
            if inbound:
                self.stdout.write(f"Enqueued {inbound} pending inbound events.")
            if not loop or (max_passes is not None and passes >= max_passes):
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return
