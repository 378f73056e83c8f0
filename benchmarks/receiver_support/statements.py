"""The SQL each route issues per request in each traffic mix, as JSON.

``python -m benchmarks.receiver_support.statements``

Run in a subprocess from the directory whose ``webhooks_app`` is measured (the
repository, or a revision exported by ``receiver_speed.py --before``), on the
benchmark's scratch database (``BENCH_DATABASE_URL``, tables made). Django's
test client sends each route a short sequence of each traffic mix; every round
trip Django logs (``BEGIN``, savepoints and ``COMMIT`` included) is counted by
its first word. A receiver may adapt to the mix (ours checks for copies first
while they are frequent), so the figures are those of the sequence's second
half: statements per request, and those of its last new event and last copy.
The rows it writes are truncated afterwards.
"""

from __future__ import annotations

import json
import os
import sys

ROUTES = {"hand": "/hand/", "ours": "/ours/"}
SEQUENCE = 64


def main() -> dict[str, dict[str, dict]]:
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
    found: dict[str, dict[str, dict]] = {}
    for name, path in ROUTES.items():
        found[name] = {}
        for traffic_name, share in traffic.MIXES.items():
            tag = f"statements_{name}_{int(share * 100)}"
            requests, _events = traffic.requests(SECRET, tag, SEQUENCE, share)
            seen: set[bytes] = set()
            counted, last = [], {}
            for number, (headers, body) in enumerate(requests):
                with CaptureQueriesContext(connection) as captured:
                    response = client.post(
                        path, body, content_type="application/json", headers=headers
                    )
                assert response.status_code == 200, response.content
                words = [query["sql"].split(None, 1)[0].upper() for query in captured]
                if number >= SEQUENCE // 2:
                    counted.append(len(words))
                    last["copy" if body in seen else "new event"] = words
                seen.add(body)
            found[name][traffic_name] = {"per request": sum(counted) / len(counted), **last}
    truncate()
    return found


if __name__ == "__main__":
    json.dump(main(), sys.stdout)
