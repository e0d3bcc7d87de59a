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
from store.pushlog import Delivery, Outcome

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

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next)
            self.next = at + self.interval
        if at > now:
            time.sleep(at - now)


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


def _record(store: Store, digest_id: int, outcomes: list[Outcome]) -> None:
    pushlog.record(store, digest_id, outcomes)
    for o in outcomes:  # the platform knows better than our follow events did
        if o.reason == "not_following" and not o.openid.startswith("tag:"):
            subscribers.set_following(store, o.openid, False)


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
    renew: Callable[[], None] | None = None,
) -> str | None:
    """Send ``rows`` with ``send`` (which raises on refusal), keeping the push log.

    Returns why the push stopped early, or ``None``. It stops when WeChat looks down (a run of
    failures worth retrying, none sent in between): the rows not tried stay ``pending`` for
    the next run instead of each failing slowly through the client's retries."""
    total = total if total is not None else done_before + len(rows)
    lanes = max(1, concurrency)
    tally = _Tally(digest_id, trip=max(20, 2 * concurrency))
    limiter = RateLimiter(rate)
    todo = list(reversed(rows))
    inflight: dict[Future[None], Delivery] = {}
    done = done_before
    last_renew = time.monotonic()

    def call(row: Delivery) -> None:
        limiter.wait()
        send(row)

    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="digest") as pool:
        while todo or inflight:
            if tally.tripped():
                todo.clear()
            if todo and len(inflight) < lanes:
                batch = [todo.pop() for _ in range(min(lanes - len(inflight), len(todo)))]
                pushlog.mark_sending(store, digest_id, [r.openid for r in batch])
                for r in batch:
                    inflight[pool.submit(call, r)] = r
            finished, _ = wait(list(inflight), timeout=1.0, return_when=FIRST_COMPLETED)
            _record(store, digest_id, [tally.outcome(inflight.pop(f), f.exception())
                                       for f in finished])
            done += len(finished)
            if progress and finished:
                progress(done, total)
            if renew and time.monotonic() - last_renew > 5:
                renew()
                last_renew = time.monotonic()
    return tally.stopped
