"""Baseline B: a bare Celery task per delivery, one POST, no database.

The session is module-level, so each pool process keeps its connection alive
across tasks, as a tuned hand-written sender would. Proxies from the
environment are ignored, like the engine does.
"""

import requests
from celery import shared_task

session = requests.Session()
session.trust_env = False


@shared_task(name="bench.bare_post", ignore_result=True)
def bare_post(url: str, body: str, message_id: str) -> int:
    """POST ``body`` once; the receiver records its ``webhook-id``."""
    response = session.post(
        url,
        data=body.encode(),
        headers={"Content-Type": "application/json", "webhook-id": message_id},
        timeout=(5, 15),
    )
    return response.status_code
