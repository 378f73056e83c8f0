"""Benchmark the receiving path; figures are ratios against a baseline from the same run.

    python benchmarks/inbound.py [--requests 500]

Through Django's test client (no network), per request:
- baseline: a bare Django view that reads the body and answers 200;
- verify only: the Standard Webhooks signature check of the same body;
- new events: WebhookReceiverView end to end (verify, parse, record, handle once);
- duplicates: the same, for copies of an event already processed.

It uses a throwaway SQLite database (or, with DATABASE_URL set, that PostgreSQL
database: use a scratch one).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def per_call(function, calls: int) -> float:
    """Median seconds per call, over five rounds of ``calls // 5`` calls."""
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls // 5):
            function()
        rounds.append((time.perf_counter() - started) / (calls // 5))
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()

    database = Path(tempfile.mkdtemp()) / "bench.sqlite3"
    import django
    from django.conf import settings

    django.setup()
    if "sqlite" in settings.DATABASES["default"]["ENGINE"]:
        settings.DATABASES["default"]["NAME"] = str(database)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from django.http import HttpResponse
    from django.test import Client, override_settings
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    from tests.receivers import STANDARD_SECRET
    from webhooks_app.receivers import StandardWebhooksVerifier, WebhookReceiverView
    from webhooks_app.testing import encode, standard_webhooks_headers

    class Receiver(WebhookReceiverView):
        source = "bench"
        verifier = StandardWebhooksVerifier(secret=STANDARD_SECRET)

        def handle(self, event) -> None:
            pass

    @csrf_exempt
    def bare(request):
        request.body  # noqa: B018 - read it, as the receiver does
        return HttpResponse("ok")

    urls = type(
        "urls",
        (),
        {
            "urlpatterns": [
                path("bare/", bare),
                path("hook/", Receiver.as_view()),
            ]
        },
    )
    client = Client()
    body = encode({"type": "order.paid", "data": {"order_id": 42, "items": list(range(20))}})
    counter = iter(range(10**9))

    def post(url: str, headers: dict) -> None:
        response = client.post(url, body, content_type="application/json", headers=headers)
        assert response.status_code == 200, response.content

    fixed = standard_webhooks_headers(STANDARD_SECRET, body, msg_id="msg_dup")
    verifier = Receiver.verifier

    with override_settings(ROOT_URLCONF=urls):
        baseline = per_call(lambda: post("/bare/", fixed), args.requests)
        verify = per_call(lambda: verifier.verify(body, fixed), args.requests)
        new = per_call(
            lambda: post(
                "/hook/",
                standard_webhooks_headers(STANDARD_SECRET, body, msg_id=f"m{next(counter)}"),
            ),
            args.requests,
        )
        post("/hook/", fixed)
        duplicate = per_call(lambda: post("/hook/", fixed), args.requests)

    print(f"bare Django view (baseline):   {baseline * 1e3:7.3f} ms/request")
    print(f"signature check alone:         {verify * 1e3:7.3f} ms  ({verify / baseline:5.2f}x)")
    print(f"receiver, new event:           {new * 1e3:7.3f} ms  ({new / baseline:5.2f}x)")
    print(
        f"receiver, duplicate copy:      {duplicate * 1e3:7.3f} ms  ({duplicate / baseline:5.2f}x)"
    )


if __name__ == "__main__":
    main()
