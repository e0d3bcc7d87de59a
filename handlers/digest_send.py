"""Pushing a planned digest: bounded concurrency, a rate limit, the push log kept step by step.

The loop keeps at most ``concurrency`` calls in flight. Before a batch goes out its rows are
committed as ``sending``; each finished call's outcome is committed before more rows are taken.
So a crash leaves at most ``concurrency`` uncertain rows, and those are re-sent with their
``clientmsgid`` (see ``store.pushlog``).

API errors are read by their ``errcode`` (the outbound client's exceptions carry it), so this
module needs nothing from the bot layer: 45015 / 45047 / 43004 / 45028 skip the recipient for a
reason; -1 and network errors were already retried by the client and fail the row for a later
run; any other code fails it for good.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from store import pushlog, subscribers
from store.db import Store
from store.pushlog import Delivery, Lease, LeaseLost, Outcome

log = logging.getLogger("newsbot.digest")

# errcode -> (status, reason) for recipients the platform refuses for a known cause
SKIP_CODES = {
    45015: "out_of_window",  # no message from the user in 48 h
    45047: "window_budget",  # the window's 5 messages are used up
    43004: "not_following",
    45028: "mass_quota",  # one mass send a day (subscription account)
    45009: "api_quota",
}
# Worth another run: busy, rate-limited, or the account's token (not the recipient) at fault.
RETRYABLE_CODES = frozenset({-1, 45011, 40001, 40014, 42001, 41001, 40013, 40125, 40164})

Send = Callable[[Delivery], None]
Progress = Callable[[int, int], None]


class RateLimiter:
    """At most ``rate`` starts per second across threads, evenly spaced (no bursts)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> float:
        """Wait for the next start; the seconds waited."""
        if not self.interval:
            return 0.0
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next)
            self.next = at + self.interval
        if at > now:
            time.sleep(at - now)
        return at - now


def classify(exc: BaseException) -> Outcome:
    """What an exception from the API client means for the row (openid filled in by caller)."""
    code = getattr(exc, "errcode", None)
    msg = getattr(exc, "errmsg", "") or str(exc) or type(exc).__name__
    if code in SKIP_CODES:
        return Outcome("", "skipped", SKIP_CODES[code])
    if code is None or code in RETRYABLE_CODES:
        return Outcome("", "failed", f"unavailable: {msg}"[:200], final=False)
    return Outcome("", "failed", f"{code}: {msg}"[:200], final=True)


class _Tally:
    """How a push is going: the failures worth retrying in a row (none sent in between), the
    last of them, and why the push stopped, once it did."""

    def __init__(self, digest_id: int, trip: int) -> None:
        self.digest_id = digest_id
        self.trip = trip
        self.streak = 0
        self.last_failure = ""
        self.stopped: str | None = None

    def outcome(self, row: Delivery, exc: BaseException | None) -> Outcome:
        if exc is None:
            self.streak = 0
            return Outcome(row.openid, "sent")
        o = classify(exc)
        if o.status == "failed":
            log.warning("digest %s: %s failed: %s", self.digest_id, row.openid, o.reason)
            if not o.final:
                self.streak += 1
                self.last_failure = o.reason
        return Outcome(row.openid, o.status, o.reason, o.final)

    def tripped(self) -> bool:
        """True once, when WeChat looks down: the push takes no more rows."""
        if self.streak < self.trip or self.stopped is not None:
            return False
        self.stopped = f"{self.streak} failures in a row, the last: {self.last_failure}"
        log.error("digest %s: stopping early, WeChat looks unavailable (%s)",
                  self.digest_id, self.stopped)
        return True


def push(
    store: Store,
    digest_id: int,
    rows: list[Delivery],
    send: Send,
    *,
    concurrency: int,
    rate: float,
    progress: Progress | None = None,
    done_before: int = 0,
    total: int | None = None,
    lease: Lease | None = None,
) -> str | None:
    """Send ``rows`` with ``send`` (which raises on refusal), keeping the push log.

    Returns why the push stopped early, or ``None``. It stops when WeChat looks down (a run of
    failures worth retrying, none sent in between): the rows not tried stay ``pending`` for
    the next run instead of each failing slowly through the client's retries.

    With ``lease``, every batch is marked, every call made and every outcome recorded only
    while the lease is the newest; once a newer run holds it, nothing more goes out, the calls
    in flight are let finish unrecorded, and :class:`LeaseLost` is raised."""
    run = _Push(store, digest_id, send, concurrency, rate, lease)
    run.total = total if total is not None else done_before + len(rows)
    run.done = done_before
    run.progress = progress
    return run.run(rows)


class _Push:
    """One push's loop: what is in flight, how it is going, whether the lease still holds."""

    def __init__(self, store: Store, digest_id: int, send: Send, concurrency: int, rate: float,
                 lease: Lease | None) -> None:
        self.store, self.digest_id, self.send, self.lease = store, digest_id, send, lease
        self.lanes = max(1, concurrency)
        self.tally = _Tally(digest_id, trip=max(20, 2 * concurrency))
        self.limiter = RateLimiter(rate)
        self.inflight: dict[Future[None], Delivery] = {}
        self.lost: LeaseLost | None = None
        self.progress: Progress | None = None
        self.done = self.total = 0
        # renew well within the ttl, whatever it is
        self.renew_every = min(5.0, lease.ttl / 3) if lease else 5.0

    def run(self, rows: list[Delivery]) -> str | None:
        todo = list(reversed(rows))
        last_renew = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.lanes, thread_name_prefix="digest") as pool:
            while todo or self.inflight:
                if self.tally.tripped() or self.lost:
                    todo.clear()
                if todo and len(self.inflight) < self.lanes:
                    room = self.lanes - len(self.inflight)
                    self._submit(pool, [todo.pop() for _ in range(min(room, len(todo)))])
                finished, _ = wait(list(self.inflight), timeout=min(1.0, self.renew_every),
                                   return_when=FIRST_COMPLETED)
                self._collect(finished)
                if self.lease and not self.lost and time.monotonic() - last_renew > self.renew_every:
                    self._fenced(pushlog.renew_lease, self.store, self.lease)
                    last_renew = time.monotonic()
        if self.lost:
            raise self.lost
        return self.tally.stopped

    def _fenced(self, step: Callable[..., None], *args: object) -> bool:
        """Run a store step that checks the lease; False (and the run stops) when it is lost."""
        try:
            step(*args)
            return True
        except LeaseLost as e:
            if self.lost is None:
                log.warning("digest %s: stopping, %s", self.digest_id, e)
                self.lost = e
            return False

    def _submit(self, pool: ThreadPoolExecutor, batch: list[Delivery]) -> None:
        openids = [r.openid for r in batch]
        if not self._fenced(pushlog.mark_sending, self.store, self.digest_id, openids, self.lease):
            return
        for r in batch:
            self.inflight[pool.submit(self._call, r)] = r

    def _call(self, row: Delivery) -> None:
        # The row was marked under the lease a moment ago; after a wait for the rate limit the
        # lease may have moved on, so look again.
        if self.limiter.wait() > 0 and self.lease is not None:
            pushlog.check_lease(self.store, self.lease)
        self.send(row)

    def _collect(self, finished: set[Future[None]]) -> None:
        outcomes = []
        for fut in finished:
            row, exc = self.inflight.pop(fut), fut.exception()
            if isinstance(exc, LeaseLost):
                self.lost = self.lost or exc
            else:
                outcomes.append(self.tally.outcome(row, exc))
        if self.lost or not self._fenced(self._record, outcomes):
            return  # the rows belong to the newer run now; it records what it sends
        self.done += len(finished)
        if self.progress and finished:
            self.progress(self.done, self.total)

    def _record(self, outcomes: list[Outcome]) -> None:
        pushlog.record(self.store, self.digest_id, outcomes, self.lease)
        for o in outcomes:  # the platform knows better than our follow events did
            if o.reason == "not_following" and not o.openid.startswith("tag:"):
                subscribers.set_following(self.store, o.openid, False)
