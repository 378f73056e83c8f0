"""The SQL each route issues per request, as JSON.

``python -m benchmarks.receiver_support.statements``

Run in a subprocess from the directory whose ``webhooks_app`` is measured (the
repository, or a revision exported by ``receiver_speed.py --before``), on the
benchmark's scratch database (``BENCH_DATABASE_URL``, tables made). Django's
test client posts one new event and one copy of it to each route; every round
trip Django logs (``BEGIN``, savepoints and ``COMMIT`` included) is counted by
its first word. The rows it writes are truncated afterwards.
"""

from __future__ import annotations

import json
import os
import sys

ROUTES = {"hand": "/hand/", "ours": "/ours/"}
KINDS = ("new event", "duplicate")


def main() -> dict[str, dict[str, list[str]]]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.receiver_support.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from benchmarks.receiver_support import traffic
    from benchmarks.receiver_support.models import truncate
    from benchmarks.receiver_support.views import SECRET

    client = Client(HTTP_HOST="127.0.0.1")
    counts: dict[str, dict[str, list[str]]] = {}
    for name, path in ROUTES.items():
        headers, body = traffic.signed(SECRET, f"msg_statements_{name}", 1)
        counts[name] = {}
        for kind in KINDS:
            with CaptureQueriesContext(connection) as captured:
                response = client.post(path, body, content_type="application/json", headers=headers)
            assert response.status_code == 200, response.content
            counts[name][kind] = [query["sql"].split(None, 1)[0].upper() for query in captured]
    truncate()
    return counts


if __name__ == "__main__":
    json.dump(main(), sys.stdout)
