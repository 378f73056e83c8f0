"""The sending engine (v3): endpoints owned, slots refilled in memory, sends on an event loop.

:func:`run` is the body of the ``deliver_due`` task; :func:`deliver` tries one
delivery in the calling thread (an operator's "send now", ``webhooks_send_test``).

A run takes a time-limited ownership of endpoints that have due deliveries
(:mod:`webhooks_app.sending.ownership`) and, for each, leases a run of them
ahead (:func:`~webhooks_app.sending.claims.claim_owned`) into that endpoint's
lane on the process's event loop (:mod:`webhooks_app.sending.lanes`). A lane
keeps the endpoint's allowed requests on the wire and refills a freed slot from
its queue at once; this thread meanwhile records what finished in bulk (every
:data:`FLUSH_SECONDS` or :data:`FLUSH_RESULTS` results), renews the ownerships,
tops the queues up and fans new events out, every :data:`POLL_SECONDS` or as
soon as a queue runs low. Every query runs on this thread; no transaction or
row lock is held while a request is in flight.

A run gives an endpoint up once it has had nothing to send for
:data:`IDLE_RELEASE_SECONDS`, and stops taking work after :data:`RUN_SECONDS`,
handing over to a fresh wake-up, so one task never occupies a worker process
for hours.
"""

from __future__ import annotations

import logging
import queue
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from webhooks_app import conf, retry, wakeups
from webhooks_app.db.locks import take_write_lock
from webhooks_app.models import Delivery, Endpoint
from webhooks_app.observability import tracing
from webhooks_app.sending import attempt, claims, due, fanout, lanes, ownership, recording
from webhooks_app.sending.owned import Owned, ready
from webhooks_app.sending.results import Outcome, Result

logger = logging.getLogger(__name__)

RUN_SECONDS = 60.0
"""A run stops taking work after this long and hands over to a fresh wake-up."""

POLL_SECONDS = 0.02
"""How often a run renews its ownerships, tops its queues up and looks for new work."""

LOW_QUEUE_POLL_SECONDS = 0.002
"""How soon after the last poll a run polls again once a lane's queue runs low."""

RENEW_SECONDS = 1.0
"""Ownerships (and the endpoints' rows: settings, health) are read again at least this often."""

FLUSH_SECONDS = 0.005
"""A finished try waits at most this long to be recorded..."""

FLUSH_RESULTS = 64
"""...or until this many have finished."""

IDLE_RELEASE_SECONDS = 0.25
"""An owned endpoint with nothing to send for this long is given up."""

IDLE_WAIT_SECONDS = 1.0
"""With nothing to do, wait in the loop for work due this soon; later work gets a wake-up."""

HELP_SECONDS = 0.25
"""A run that cannot take every endpoint with due work wakes another worker this often."""

CONTENDED_WAIT_SECONDS = (0.002, 0.02)
"""With work due that this run could not take (another run was taking it), wait this long
before trying again: at first briefly, then longer while it goes on."""


def run() -> int:
    """Send due deliveries until none is left (or :data:`RUN_SECONDS` pass); returns tries."""
    return _Run(lanes.send_loop()).go()


class _Run:
    def __init__(self, sender: lanes.SendLoop) -> None:
        self.sender = sender
        self.sink: lanes.Sink = queue.SimpleQueue()
        self.me = ownership.new_owner()
        self.owned: dict[int, Owned] = {}
        self.started = time.monotonic()
        self.tries = 0
        self.results: list[Result] = []
        self.unsent: list[Delivery] = []
        self.oldest_result = 0.0
        self.next_poll = 0.0
        self.last_poll = 0.0
        self.last_renew = 0.0
        self.stale: set[int] = set()  # endpoints whose health recording may have changed
        self.contended_wait = CONTENDED_WAIT_SECONDS[0]
        self.helped_at = -HELP_SECONDS

    def claiming(self) -> bool:
        return time.monotonic() - self.started < RUN_SECONDS

    def go(self) -> int:
        try:
            while True:
                now = time.monotonic()
                if now >= self.next_poll:
                    self._poll()
                if not self.owned and not self.results and not self.unsent:
                    if self._nothing_owned():
                        return self.tries
                    continue
                self._wait()
                if self._flush_due():
                    self._flush()
        finally:
            self._finish()

    # Waiting for and recording what finished.

    def _wait(self) -> None:
        now = time.monotonic()
        until = self.next_poll
        if self.results:
            until = min(until, self.oldest_result + FLUSH_SECONDS)
        try:
            finished = [self.sink.get(timeout=max(0.0, until - now))]
        except queue.Empty:
            return
        while True:
            try:
                finished.append(self.sink.get_nowait())
            except queue.Empty:
                break
        now = time.monotonic()
        for item in finished:
            delivery = item.delivery
            owned = self.owned.get(delivery.endpoint_id)
            if owned is not None:
                owned.held -= 1
            if isinstance(item, lanes.Unsent):
                self.unsent.append(delivery)
                continue
            if not self.results:
                self.oldest_result = now
            self.results.append(item)
            if owned is not None:
                owned.finished.append(now)
                if item.decision.verdict is not retry.Verdict.SUCCEEDED:
                    self.stale.add(delivery.endpoint_id)
            if owned is not None and owned.low(now):
                self.next_poll = min(self.next_poll, self.last_poll + LOW_QUEUE_POLL_SECONDS)

    def _flush_due(self) -> bool:
        if self.unsent:
            return True
        if not self.results:
            return False
        return (
            len(self.results) >= FLUSH_RESULTS
            or time.monotonic() - self.oldest_result >= FLUSH_SECONDS
        )

    def _flush(self) -> None:
        unsent, self.unsent = self.unsent, []
        results, self.results = self.results, []
        if unsent:
            claims.release_unsent(unsent)
        if results:
            self.tries += len(recording.record(results))
        if self.stale:
            self.next_poll = min(self.next_poll, time.monotonic())

    # Owning, leasing ahead, giving up.

    def _poll(self) -> None:
        mono = time.monotonic()
        self.last_poll = mono
        self.next_poll = mono + POLL_SECONDS
        claiming = self.claiming()
        now = timezone.now()
        until = now + timedelta(seconds=conf.lease_seconds())
        wanting = {pk for pk, owned in self.owned.items() if claiming and owned.low(mono)}
        renew_all = mono - self.last_renew >= RENEW_SECONDS
        renewing = set(self.owned) if renew_all else wanting | (self.stale & set(self.owned))
        self.stale.clear()
        with transaction.atomic():
            take_write_lock()
            fresh = ownership.renew(self.me, renewing, until)
            free = self._free_slots()
            taken: dict[int, Endpoint] = {}
            if claiming and free > 0:
                # As many as there are free slots: an endpoint taken uses one at least.
                taken = ownership.take(self.me, free, until, due.Due.at(now))
            for pk, endpoint in taken.items():
                self.owned[pk] = Owned(endpoint)
            if claiming and len(taken) >= free:
                self._call_for_help(mono)
            for pk, endpoint in fresh.items():
                self.owned[pk].endpoint = endpoint
            room = {
                pk: self.owned[pk].target(mono) - self.owned[pk].held
                for pk in wanting.intersection(fresh) | set(taken)
                if ready(self.owned[pk].endpoint, now)
            }
            rows = {pk: self.owned[pk].endpoint for pk in room}
            items = claims.claim_owned(self.me, rows, room, now) if room else []
            if claiming:
                items += self._fan_out(room, items, until)
        if renew_all:
            self.last_renew = mono
        self._apply(renewing, fresh, items, now, mono)

    def _fan_out(self, room: dict[int, int], claimed: list[Delivery], until: datetime) -> list:
        """Fan new events out; their deliveries to endpoints with room left in their
        queues are written leased to this run (their first try), ready to send."""
        left = dict(room)
        for item in claimed:
            left[item.endpoint_id] -= 1
        first_tries = fanout.FirstTries({pk: n for pk, n in left.items() if n > 0}, until)
        expanded = fanout.expand_pending(
            max_events=fanout.EVENTS_PER_TRANSACTION, first_tries=first_tries
        )
        if expanded:  # deliveries for endpoints not owned yet: take them at once
            self.next_poll = time.monotonic()
        deadline = time.monotonic() + sum(conf.timeouts())
        context = tracing.current_context()
        for item in first_tries.leased:
            item.endpoint = self.owned[item.endpoint_id].endpoint
            item.deadline = deadline
            item.trace_context = context
        return first_tries.leased

    def _apply(
        self,
        renewing: set[int],
        fresh: dict[int, Endpoint],
        items: list[Delivery],
        now: datetime,
        mono: float,
    ) -> None:
        """After the poll's commit: hand the lanes their deliveries and news."""
        lost = [pk for pk in renewing if pk not in fresh]
        if lost:  # taken over: this run's ownership had run out (it was stopped)
            self.sender.stop(self.sink, lost)
        for pk, endpoint in fresh.items():
            self.sender.update(self.sink, endpoint)
            if not ready(endpoint, now):
                self.sender.stop(self.sink, [pk])
        by_endpoint: dict[int, list[Delivery]] = {}
        for item in items:
            by_endpoint.setdefault(item.endpoint_id, []).append(item)
        for pk, batch in by_endpoint.items():
            owned = self.owned[pk]
            owned.held += len(batch)
            self.sender.assign(self.sink, owned.endpoint, batch)
        idle = []
        for pk, owned in self.owned.items():
            if owned.held > 0 or pk in by_endpoint:
                owned.idle_since = None
            elif pk in lost or (
                owned.idle_since is not None
                and (mono - owned.idle_since >= IDLE_RELEASE_SECONDS or not self.claiming())
            ):
                idle.append(pk)
            elif owned.idle_since is None:
                owned.idle_since = mono
        if idle:
            self.sender.stop(self.sink, idle)
            ownership.release(self.me, idle)
            for pk in idle:
                del self.owned[pk]

    def _call_for_help(self, mono: float) -> None:
        """With every slot taken and endpoints still waiting for an owner, wake another
        worker (at most every :data:`HELP_SECONDS`): many endpoints spread over many
        workers, however few wake-ups their events sent."""
        if mono - self.helped_at < HELP_SECONDS:
            return
        self.helped_at = mono
        if due.any_claimable():
            transaction.on_commit(wakeups.wake_up)

    def _free_slots(self) -> int:
        busy = sum(min(owned.held, owned.allowed()) for owned in self.owned.values())
        return conf.get("SEND_CONCURRENCY") - busy

    def _nothing_owned(self) -> bool:
        """Nothing owned and nothing to record: wait for work due soon, or end the run
        (True)."""
        claiming = self.claiming()
        wait_for = due.seconds_until_next()
        if wait_for == 0:  # due now, but another run was taking it
            if not claiming:  # out of time: a fresh run takes over what is due now
                wakeups.wake_up()
                return True
            time.sleep(self.contended_wait)
            self.contended_wait = min(2 * self.contended_wait, CONTENDED_WAIT_SECONDS[1])
            self.next_poll = 0.0
            return False
        self.contended_wait = CONTENDED_WAIT_SECONDS[0]
        if claiming and wait_for is not None and wait_for <= IDLE_WAIT_SECONDS:
            time.sleep(wait_for)
            self.next_poll = 0.0
            return False
        # Only a run that sent something hands on: the retries it scheduled are its
        # own. A wake-up that found nothing to do must not start a chain of them.
        if self.tries and wait_for is not None and wait_for <= conf.get("MAX_COUNTDOWN"):
            wakeups.wake_up(countdown=wait_for)
        return True

    def _finish(self) -> None:
        """Whatever ended the run (an error too): give back what is queued, record what
        is in flight, give the endpoints up."""
        if not self.owned and not self.results and not self.unsent:
            return
        self.sender.stop(self.sink, list(self.owned))
        patience = time.monotonic() + sum(conf.timeouts()) + 1
        while any(owned.held > 0 for owned in self.owned.values()):
            if time.monotonic() > patience:
                break
            self.next_poll = time.monotonic() + 0.05
            self._wait()
        try:
            self._flush()
        finally:
            ownership.release(self.me, list(self.owned))
            self.owned.clear()


HAND_ON_AFTER_SECONDS = 2.0
"""How long :func:`deliver` keeps trying to claim a contended delivery before it hands
it on to a later ``deliver`` task."""


def deliver(delivery_id: int, *, manual: bool = False) -> Outcome | None:
    """Try one delivery once, in this thread, if it is due and unleased; else None.

    Safe to call twice with the same id, at the same time or later: the claim
    lets exactly one caller send each attempt. A delivery that is due but cannot
    be claimed at once (a sibling's claim holds its endpoint, or the endpoint has
    no room) is tried again for :data:`HAND_ON_AFTER_SECONDS`, then handed on to a
    later task; one whose endpoint a live run owns is left to that run. None is
    left to the next sweep.
    """
    give_up = time.monotonic() + HAND_ON_AFTER_SECONDS
    wait = CONTENDED_WAIT_SECONDS[0]
    while True:
        claimed = claims.claim(1, only=[delivery_id])
        if claimed:
            (outcome,) = recording.record([attempt.send(claimed[0], manual=manual)])
            return outcome
        state = _still_wanted(delivery_id)
        if state != "contended":
            return None
        if time.monotonic() >= give_up:
            wakeups.send_task(wakeups.DELIVER, [delivery_id], {"manual": manual}, countdown=1)
            return None
        time.sleep(wait)
        wait = min(2 * wait, 0.2)


def _still_wanted(delivery_id: int) -> str:
    """``done`` (not pending, not due, being sent or its endpoint inactive), ``owned`` (a live run
    owns its ready endpoint and sends it) or ``contended``."""
    now = timezone.now()
    row = (
        Delivery.objects.filter(
            pk=delivery_id,
            status=Delivery.Status.PENDING,
            next_attempt_at__lte=now,
            endpoint__is_active=True,
        )
        .exclude(locked_until__gt=now)  # another worker is sending it
        .values_list("endpoint__owned_until", "endpoint__paused_until")
        .first()
    )
    if row is None:
        return "done"
    owned_until, paused_until = row
    owned = owned_until is not None and owned_until > now
    if owned and (paused_until is None or paused_until <= now):
        return "owned"
    return "contended"


def retry_countdown(outcome: Outcome | None) -> float | None:
    """Seconds until a retry that a countdown should wake; None for the sweep."""
    if outcome is None or outcome.decision.verdict is not retry.Verdict.RETRY:
        return None
    delay = outcome.decision.delay or 0
    return delay if delay <= conf.get("MAX_COUNTDOWN") else None
