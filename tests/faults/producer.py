"""A producer that commits events and dies before its on-commit wake-up (fault scenario 5).

``python -m tests.faults.producer COUNT EVENT_TYPE``, in the environment that
``tests.conftest.service_env`` makes: commits COUNT events in one transaction,
then exits with EXIT_CODE from the first on-commit callback, registered before
``send_event`` registers its wake-up. The events are in the database; no
wake-up was ever sent.
"""

from __future__ import annotations

import os
import sys

EXIT_CODE = 17


def main(count: int, event_type: str) -> None:
    import django

    django.setup()
    from django.db import transaction

    from webhooks_app import send_event

    with transaction.atomic():
        # Callbacks run in the order registered, right after COMMIT.
        transaction.on_commit(lambda: os._exit(EXIT_CODE))
        for n in range(count):
            send_event(event_type, {"n": n, "producer": os.getpid()})
    sys.exit("the process outlived its commit")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
