"""The digest schedule: one leader per state backend, takeover when it dies, a missed run
made up once within the grace and never twice."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from digest_support import Rig, add_people, add_stories, config_for, delivered
from starlette.testclient import TestClient

from bot.app import build_services, create_app
from bot.config import Config
from bot.scheduler import DigestScheduler, scheduled_digest
from bot.state.sqlite import SQLiteState
from handlers.digest import run_digest
from store import pushlog

TZ = "Asia/Shanghai"


def _until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def _digest_at(minutes_ago: int, grace: int) -> str:
    at = datetime.now(ZoneInfo(TZ)) - timedelta(minutes=minutes_ago)
    return f'\n[digest]\ntime = "{at:%H:%M}"\ntimezone = "{TZ}"\nmisfire_grace = {grace}\n'


@pytest.fixture
def stop_all() -> Iterator[list[DigestScheduler]]:
    started: list[DigestScheduler] = []
    yield started
    for s in started:
        s.stop()


def _scheduler(config: Config, state_path: Path, job: Callable[[str], object],
               started: list[DigestScheduler], **kw: object) -> DigestScheduler:
    s = DigestScheduler(config, SQLiteState(state_path), job, lock_ttl=0.6, renew_every=0.1,
                        **kw)  # type: ignore[arg-type]
    s.start()
    started.append(s)
    return s


def test_one_leader_among_two_and_takeover_after_the_lock_expires(
    tmp_path: Path, stop_all: list[DigestScheduler]
) -> None:
    config = config_for(tmp_path, "http://127.0.0.1:9", _digest_at(-120, 60))  # due in 2 h
    state_path = tmp_path / "state.db"
    a = _scheduler(config, state_path, lambda slot: None, stop_all)
    b = _scheduler(config, state_path, lambda slot: None, stop_all)
    _until(lambda: a.leader or b.leader)
    time.sleep(1.0)  # longer than the lock's ttl: the leader keeps it by renewing
    assert [a.leader, b.leader].count(True) == 1
    leader, follower = (a, b) if a.leader else (b, a)
    assert leader.scheduler.get_job("digest") is not None
    assert follower.scheduler.get_job("digest") is None

    leader.stop(release=False)  # dies: no release, no more renewals
    assert SQLiteState(state_path).acquire("digest-scheduler", "someone-else", 1) is False
    _until(lambda: follower.leader)
    assert follower.scheduler.get_job("digest") is not None


def test_a_run_missed_within_the_grace_goes_out_once_even_across_restarts(
    tmp_path: Path, stop_all: list[DigestScheduler]
) -> None:
    rig = Rig(tmp_path, extra=_digest_at(3, 3600))
    try:
        add_stories(rig.store, 1)
        people = add_people(rig.store, rig.emu, 20)
        slots: list[str] = []

        def job(slot: str) -> None:
            try:
                run_digest(rig.store, rig.api, rig.config, slot=slot)
            finally:
                slots.append(slot)

        state_path = tmp_path / "state.db"
        first = _scheduler(rig.config, state_path, job, stop_all)
        _until(lambda: len(slots) == 1)
        first.stop()
        second = _scheduler(rig.config, state_path, job, stop_all)  # a restart within the grace
        _until(lambda: len(slots) == 2)
        add_stories(rig.store, 1, tag="新")  # even with news, the day's slot does not run again
        second.stop()
        third = _scheduler(rig.config, state_path, job, stop_all)
        _until(lambda: len(slots) == 3)
        third.stop()

        today = (datetime.now(ZoneInfo(TZ)) - timedelta(minutes=3)).date().isoformat()
        assert slots == [today] * 3
        got = delivered(rig.emu)
        assert set(got) == set(people.inside) and set(got.values()) == {1}
        assert [d.slot for d in pushlog.recent(rig.store)] == [today]
    finally:
        rig.close()


def test_a_run_missed_beyond_the_grace_waits_for_the_next_day(
    tmp_path: Path, stop_all: list[DigestScheduler]
) -> None:
    config = config_for(tmp_path, "http://127.0.0.1:9", _digest_at(10, 60))
    ran: list[str] = []
    s = _scheduler(config, tmp_path / "state.db", ran.append, stop_all)
    _until(lambda: s.leader)
    job = s.scheduler.get_job("digest")
    assert job is not None
    assert job.next_run_time > datetime.now(ZoneInfo(TZ)) + timedelta(hours=23)
    assert ran == []


def test_a_run_missed_within_the_grace_is_handed_to_apscheduler_once(
    tmp_path: Path, stop_all: list[DigestScheduler]
) -> None:
    # A per-second trigger missed for a while: with coalesce the make-up is one run.
    from apscheduler.triggers.cron import CronTrigger

    config = config_for(tmp_path, "http://127.0.0.1:9", _digest_at(0, 30))
    ran: list[str] = []
    now = datetime.now(ZoneInfo(TZ))
    trigger = CronTrigger(second="*", end_date=now, timezone=ZoneInfo(TZ))  # no fires to come
    s = DigestScheduler(config, SQLiteState(tmp_path / "state.db"), ran.append, trigger=trigger,
                        lock_ttl=5, renew_every=60)
    s.scheduler.start(paused=True)
    stop_all.append(s)
    s._tick()  # becomes leader: the job is due now (the last second's fire time)
    job = s.scheduler.get_job("digest")
    assert job is not None and job.coalesce and job.misfire_grace_time == 30
    job.modify(next_run_time=datetime.now(ZoneInfo(TZ)) - timedelta(seconds=5))  # 5 fires missed
    s.scheduler.resume()
    _until(lambda: s.scheduler.get_job("digest") is None)  # no fire time left: job done
    s.scheduler.shutdown(wait=True)  # every run submitted has finished
    assert len(ran) == 1


def test_the_service_runs_its_scheduler_while_it_serves(tmp_path: Path) -> None:
    config = config_for(tmp_path, "http://127.0.0.1:9", _digest_at(-120, 60))
    services = build_services(config)
    with TestClient(create_app(services)):
        sched = services.scheduler
        _until(lambda: sched.scheduler.get_job("digest") is not None)  # it leads: digest planned
        assert sched.leader
        assert SQLiteState(tmp_path / "state.db").acquire("digest-scheduler", "another", 5) is False
    assert not sched.scheduler.running
    # stopped with the service: the lock was released for the next one
    other = SQLiteState(tmp_path / "state.db")
    assert other.acquire("digest-scheduler", "another-process", 5) is True


def test_the_scheduled_job_sends_the_digest_through_the_services(tmp_path: Path) -> None:
    rig = Rig(tmp_path, extra='\n[digest]\nenabled = false\n')
    try:
        add_stories(rig.store, 1)
        people = add_people(rig.store, rig.emu, 10)
        services = build_services(rig.config, store=rig.store, state=rig.state, api=rig.api)
        job = scheduled_digest(services)
        job("2030-01-01")
        job("2030-01-01")
        assert set(delivered(rig.emu)) == set(people.inside)
        assert set(delivered(rig.emu).values()) == {1}
    finally:
        rig.close()
