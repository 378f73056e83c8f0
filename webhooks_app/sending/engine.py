"""The sending loop: claim, send concurrently, record as results come in.

:func:`run` is the body of the ``deliver_due`` task; :func:`deliver` tries one
delivery in the calling thread (an operator's "send now", ``webhooks_send_test``).

One call of :func:`run` (a Celery task's body) keeps a sliding window of
requests in flight on sender threads: whenever slots are free it claims more
due deliveries, and whatever has finished is recorded in bulk at once. A slow
or hanging endpoint therefore holds a few slots (at most its in-flight cap)
for at most the request deadline, never the worker process, and never holds
up the results of fast requests. Sender threads only do HTTP; every database
query runs on the calling thread.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.db import transaction

from webhooks_app import conf, retry, wakeups
from webhooks_app.sending import attempt, claims, due, effects, fanout, recording
from webhooks_app.sending.results import Outcome, Result

logger = logging.getLogger(__name__)

RUN_SECONDS = 60.0
"""A run stops claiming after this long and hands over to a fresh wake-up, so one
task never occupies a worker process for hours behind a slow, rate-limited backlog."""

POLL_SECONDS = 0.02
"""While requests are in flight, how often to look for newly due work and new events."""

LINGER_SECONDS = 0.002
"""After a request finishes, how long to wait for others finishing with it, so that
their results are written together and the freed slots are claimed for at once."""

IDLE_WAIT_SECONDS = 1.0
"""With nothing to do, wait in the loop for work due this soon; later work gets a wake-up."""

CONTENDED_WAIT_SECONDS = (0.002, 0.02)
"""With nothing in flight and the endpoints locked by another worker's claim, wait this
long before trying again: at first briefly (a claim takes a few milliseconds), then
longer while it goes on."""


def run() -> int:
    """Send due deliveries until none is left (or :data:`RUN_SECONDS` pass); returns tries."""
    concurrency = conf.get("SEND_CONCURRENCY")
    batch_size = conf.get("BATCH_SIZE")
    started = time.monotonic()
    in_flight: set[Future[Result]] = set()
    tries = 0
    expanded_at = -POLL_SECONDS
    contended_wait = CONTENDED_WAIT_SECONDS[0]
    just_claimed = False

    def claim_room() -> int:
        """Slots to claim for now: none once the run is out of time."""
        nonlocal expanded_at
        if time.monotonic() - started >= RUN_SECONDS:
            return 0
        if time.monotonic() - expanded_at >= POLL_SECONDS:
            fanout.expand_pending(max_events=fanout.EVENTS_PER_TRANSACTION)
            expanded_at = time.monotonic()
        return min(concurrency - len(in_flight), batch_size)

    with ThreadPoolExecutor(concurrency, thread_name_prefix="webhooks-send") as senders:
        while True:
            claiming = time.monotonic() - started < RUN_SECONDS
            contended = False
            if not just_claimed and (room := claim_room()) > 0:
                claim = claims.claim_batch(room)
                contended = claim.contended
                in_flight |= {senders.submit(attempt.send, item) for item in claim.deliveries}
            just_claimed = False
            if in_flight:
                done, in_flight = wait(
                    in_flight,
                    timeout=POLL_SECONDS if claiming else None,
                    return_when=FIRST_COMPLETED,
                )
                if done and in_flight:
                    more, in_flight = wait(in_flight, LINGER_SECONDS, return_when=ALL_COMPLETED)
                    done |= more
                if done:
                    results = [future.result() for future in done]
                    recorded, claim = _record_and_claim(results, claim_room())
                    tries += recorded
                    in_flight |= {senders.submit(attempt.send, i) for i in claim.deliveries}
                    # Claimed for the free slots just now; with nothing in flight, claim
                    # again: something may have fallen due while the signals went out.
                    just_claimed = bool(in_flight)
                continue
            if contended and claiming:  # another worker was claiming for the same endpoints
                time.sleep(contended_wait)
                contended_wait = min(2 * contended_wait, CONTENDED_WAIT_SECONDS[1])
                continue
            wait_for = due.seconds_until_next()
            if wait_for == 0:  # claimable now: it fell due since this turn's claim
                if not claiming:  # out of time: a fresh run takes over what is due now
                    wakeups.wake_up()
                    return tries
                time.sleep(contended_wait)  # claim again soon; back off if it keeps failing
                contended_wait = min(2 * contended_wait, CONTENDED_WAIT_SECONDS[1])
                continue
            contended_wait = CONTENDED_WAIT_SECONDS[0]
            if claiming and wait_for is not None and wait_for <= IDLE_WAIT_SECONDS:
                time.sleep(wait_for)
                continue
            # Only a run that sent something hands on: the retries it scheduled are its
            # own. A wake-up that found nothing to do must not start a chain of them.
            if tries and wait_for is not None and wait_for <= conf.get("MAX_COUNTDOWN"):
                wakeups.wake_up(countdown=wait_for)
            return tries


def _record_and_claim(results: list[Result], room: int) -> tuple[int, claims.Claim]:
    """Record finished tries and claim up to ``room`` more, in one transaction.

    One commit instead of two, and the slots the finished requests held (their
    endpoints' in-flight cap) are taken over at once rather than after a round
    trip. If that transaction fails, the tries are recorded the safe way, alone.
    """
    try:
        with transaction.atomic():
            outcomes = recording.write(results)
            claim = claims.claim_batch(room) if room > 0 else claims.Claim()
    except Exception:
        logger.exception("Recording %d tries and claiming failed; recording alone", len(results))
        return len(recording.record(results)), claims.Claim()
    effects.after_commit(outcomes)
    return len(outcomes), claim


def deliver(delivery_id: int, *, manual: bool = False) -> Outcome | None:
    """Try one delivery once, in this thread, if it is due and unleased; else None.

    Safe to call twice with the same id, at the same time or later: the claim
    lets exactly one caller send each attempt.
    """
    claimed = claims.claim(1, only=[delivery_id])
    if not claimed:
        return None
    (outcome,) = recording.record([attempt.send(claimed[0], manual=manual)])
    return outcome


def retry_countdown(outcome: Outcome | None) -> float | None:
    """Seconds until a retry that a countdown should wake; None for the sweep."""
    if outcome is None or outcome.decision.verdict is not retry.Verdict.RETRY:
        return None
    delay = outcome.decision.delay or 0
    return delay if delay <= conf.get("MAX_COUNTDOWN") else None
