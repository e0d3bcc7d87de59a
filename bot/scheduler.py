"""The digest schedule: an APScheduler cron at [digest] time in [digest] timezone.

Every worker process (on every host) runs a :class:`DigestScheduler`, but only the holder of a
leader lock in the shared state backend schedules the digest. The holder renews the lock every
``lock_ttl / 3`` seconds; when it dies, the lock expires and another process takes over on its
next renewal tick. The renewals run on a thread of their own, not as a job of APScheduler:
a job waits for the scheduler's loop to wake and for a free executor thread, and every such
hand-off in a busy process (a digest under way, workers starting beside it) is time the lock
runs down; a renewal that still comes late is logged with how late it was.

Late runs: a fire time missed by less than [digest] misfire_grace runs late, once. While the
leader is up, APScheduler does this itself (``misfire_grace_time``, ``coalesce``). A process that
becomes leader (start, restart, takeover) hands APScheduler the last fire time if it lies
within the grace, so a digest due while no leader was alive still goes out. Never twice: each
run carries its slot (the local date of the fire time), and ``run_digest`` refuses a slot that
already has a digest (a unique index in the store), whichever process asks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from bot.config import Config
from bot.state import StateBackend
from bot.wxapi import WeChatAPI
from handlers.digest import DigestBusy, run_digest
from store.db import StoreUnavailable

log = logging.getLogger("newsbot.scheduler")

LOCK_NAME = "digest-scheduler"

Job = Callable[[str], Any]  # called with the slot (local date of the fire time)


def daily_trigger(config: Config) -> CronTrigger:
    hour, minute = (int(p) for p in config.digest["time"].split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(config.digest["timezone"]))


def last_fire_time(
    trigger: BaseTrigger, now: datetime, grace: float
) -> datetime | None:
    """The latest fire time of ``trigger`` in ``(now - grace, now]``, if any."""
    found = None
    t = trigger.get_next_fire_time(None, now - timedelta(seconds=grace))
    while t is not None and t <= now:
        found = t
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return found


class DigestScheduler:
    """One process's scheduler; see the module docstring for leadership and misfires."""

    def __init__(
        self,
        config: Config,
        state: StateBackend,
        job: Job,
        *,
        trigger: BaseTrigger | None = None,
        lock_ttl: float = 30.0,
        renew_every: float | None = None,
        owner: str | None = None,
        lock_name: str = LOCK_NAME,
    ) -> None:
        self.config = config
        self.state = state
        self.job = job
        self.tz: tzinfo = ZoneInfo(config.digest["timezone"])
        self.trigger = trigger or daily_trigger(config)
        self.grace = int(config.digest["misfire_grace"])
        self.lock_ttl = lock_ttl
        self.renew_every = renew_every or lock_ttl / 3
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lock_name = lock_name
        self.leader = False
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._renewer: threading.Thread | None = None
        self.scheduler = BackgroundScheduler(timezone=self.tz)

    # -- life ----------------------------------------------------------------------------------
    def start(self) -> None:
        # APScheduler logs every lock renewal at INFO; our own lines say what matters.
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
        self.scheduler.start()
        self._renewer = threading.Thread(target=self._keep_lock, name="digest-leader",
                                         daemon=True)
        self._renewer.start()
        log.info("scheduler %s started: digest at %s %s", self.owner,
                 self.config.digest["time"], self.config.digest["timezone"])

    def stop(self, release: bool = True) -> None:
        """Stop scheduling; ``release=False`` leaves the lock to expire (as a crash would)."""
        self._stopping.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=10)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        with self._lock:
            released = False
            if self.leader and release:
                try:
                    released = self.state.release(self.lock_name, self.owner)
                except Exception:  # the lock expires by itself anyway
                    log.exception("scheduler %s: could not release the lock", self.owner)
            self.leader = False
        # A sibling still running may take the lock from here on: a hand-over, not a second
        # leader. The log says which came first.
        log.info("scheduler %s stopped%s", self.owner, ", leader lock released" if released else "")

    # -- leadership ----------------------------------------------------------------------------
    def _keep_lock(self) -> None:
        """Take or renew the lock every ``renew_every`` seconds until stopped."""
        due = time.monotonic()
        while not self._stopping.is_set():
            late = time.monotonic() - due
            if self.leader and late > self.renew_every:
                log.warning("scheduler %s: lock renewal %.1f s late (the lock lasts %.1f s):"
                            " the process was stalled", self.owner, late, self.lock_ttl)
            self._tick()
            due += self.renew_every
            now = time.monotonic()
            if due < now:  # stalled past a whole period: count the next from now
                due = now + self.renew_every
            self._stopping.wait(due - now)

    def _tick(self) -> None:
        try:
            held = self.state.acquire(self.lock_name, self.owner, self.lock_ttl)
        except Exception:  # state backend down: do not act as leader blind
            log.exception("scheduler %s: state backend unavailable", self.owner)
            held = False
        with self._lock:
            if held and not self.leader:
                self.leader = True
                self._schedule_digest()
            elif not held and self.leader:
                self.leader = False
                if self.scheduler.get_job("digest"):
                    self.scheduler.remove_job("digest")
                log.warning("scheduler %s: lost the leader lock", self.owner)

    def _schedule_digest(self) -> None:
        now = datetime.now(self.tz)
        missed = last_fire_time(self.trigger, now, self.grace)
        kwargs: dict[str, Any] = {}
        if missed is not None:
            kwargs["next_run_time"] = missed  # APScheduler runs it now: within the grace
        self.scheduler.add_job(
            self._run, self.trigger, id="digest", replace_existing=True, max_instances=1,
            coalesce=True, misfire_grace_time=self.grace, **kwargs,
        )
        log.info("scheduler %s: leader%s", self.owner,
                 f", catching up the run due at {missed.isoformat()}" if missed else "")

    def _run(self) -> None:
        if not self.leader:
            return
        fired = last_fire_time(self.trigger, datetime.now(self.tz), max(self.grace, 3600))
        slot = (fired or datetime.now(self.tz)).astimezone(self.tz).date().isoformat()
        try:
            self.job(slot)
        except Exception:  # the next day's run goes on; the log shows why
            log.exception("scheduler %s: digest for %s failed", self.owner, slot)


def scheduled_digest(services: Any, busy_wait: float = 30.0, busy_tries: int = 4,
                     store_wait: float = 10.0) -> Job:
    """The job the service runs: the day's digest through the outbound client.

    A run still under way elsewhere (a previous leader's, or a manual ``newsbot digest send``)
    holds the store's run lease; the job waits for it, since a lease whose holder died expires."""

    def job(slot: str) -> None:
        api = services.api
        if api is None:
            api = services.api = WeChatAPI(services.config, services.state)
        attempt = 0
        give_up = time.monotonic() + float(services.config.digest["misfire_grace"])
        while attempt < busy_tries:
            attempt += 1
            try:
                report = run_digest(services.store, api, services.config, slot=slot)
            except StoreUnavailable as e:
                # the shared store down or failing over: wait, then resume from its push log
                if time.monotonic() > give_up:
                    raise
                log.warning("digest for %s waits for the store: %s", slot, e)
                attempt -= 1
                time.sleep(store_wait)
                continue
            except DigestBusy as e:
                log.warning("digest for %s waits (%d/%d): %s", slot, attempt, busy_tries, e)
                time.sleep(busy_wait)
                continue
            log.info("digest for %s: %s", slot, report.summary().replace("\n", " | "))
            return
        log.error("digest for %s not run: another run kept the store busy", slot)

    return job


def start_digest_scheduler(services: Any) -> DigestScheduler:
    """The scheduler of the service's daily digest, started (the service stops it)."""
    sched = DigestScheduler(
        services.config, services.state, scheduled_digest(services),
        lock_ttl=services.config.digest["leader_ttl"],
    )
    sched.start()
    return sched
