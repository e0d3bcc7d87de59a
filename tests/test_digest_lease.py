"""A digest run that stalls past its lease (SIGSTOP) while another run takes over: once woken
(SIGCONT) it sends nothing more, and nobody gets the digest twice. Two ``newsbot digest send``
processes on one SQLite store; the sends are counted where they arrive, at the emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from digest_support import ROOT_ENV, Rig, add_people, add_stories, delivered

from store import pushlog

SEND = "calls:message/custom/send"
LEASE_TTL = 1.0  # seconds: the stalled run's lease, short so the test need not wait long


def digest_send(rig: Rig, lease_ttl: float = 60.0) -> subprocess.Popen[str]:
    env = {
        **os.environ, **ROOT_ENV,
        "NEWSBOT_WECHAT_API_BASE_URL": str(rig.url),
        # One call in flight, so that a pause at a delivery leaves nothing half sent: what
        # arrives after the resume can only come from sends begun after it.
        "NEWSBOT_DIGEST_CONCURRENCY": "1",
        "NEWSBOT_DIGEST_LEASE_TTL": str(lease_ttl),
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "--config",
         str(rig.config.path), "digest", "send", "--no-progress"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def pause_at(rig: Rig, n: int) -> tuple[Callable[[subprocess.Popen[str]], None], threading.Event]:
    """Stop the sending process from inside the emulator as its ``n``-th delivery arrives: its
    one call is then waiting for the answer, and nothing else of it is under way."""
    paused = threading.Event()
    target: list[int] = []
    original = rig.emu.account.on_delivery

    def hook(record: dict[str, Any]) -> None:
        if original is not None:
            original(record)
        if target and not paused.is_set() and len(rig.emu.deliveries) >= n:
            os.kill(target[0], signal.SIGSTOP)
            paused.set()

    rig.emu.account.on_delivery = hook
    return target.append, paused  # type: ignore[return-value]


def sends(rig: Rig) -> int:
    return int(rig.emu.stats().get(SEND, 0))


def _setup(tmp_path: Path, custom_clientmsgid: bool = False) -> tuple[Rig, Any]:
    rig = Rig(tmp_path, custom_clientmsgid=custom_clientmsgid)
    add_stories(rig.store, 2)
    people = add_people(rig.store, rig.emu, 60)
    rig.emu.inject("latency", "message/custom/send", seconds=0.02)
    return rig, people


@pytest.mark.parametrize("custom_clientmsgid", [False, True], ids=["wechat", "dedup-on"])
def test_a_run_paused_past_its_lease_sends_nothing_after_another_run_finished(
    tmp_path: Path, custom_clientmsgid: bool
) -> None:
    rig, people = _setup(tmp_path, custom_clientmsgid)
    first: subprocess.Popen[str] | None = None
    try:
        watch, paused = pause_at(rig, 10)
        first = digest_send(rig, LEASE_TTL)
        watch(first.pid)
        assert paused.wait(60), "the first run never got to its tenth delivery"
        stalled = pushlog.latest(rig.store)
        assert stalled is not None and stalled.status == "running"
        time.sleep(LEASE_TTL + 0.5)  # the first run's lease runs out while it is stopped

        second = digest_send(rig)
        out, _ = second.communicate(timeout=120)
        assert second.returncode == 0, out
        assert f"续发摘要 #{stalled.id}" in out
        after_second = sends(rig)
        once = delivered(rig.emu)

        os.kill(first.pid, signal.SIGCONT)
        out, _ = first.communicate(timeout=60)
        time.sleep(0.3)  # anything it sent would have landed by now
    finally:
        if first is not None and first.poll() is None:
            first.kill()
            first.wait(10)
        rig.close()
    assert sends(rig) == after_second, "the paused run sent again after it was woken"
    assert first.returncode == 1
    assert "this run stopped sending" in out and "Traceback" not in out
    # The one call in flight at the pause had reached WeChat; the run that took over sent that
    # uncertain row again. A platform that honours clientmsgid drops the repeat; WeChat (which
    # documents it for mass sends only) delivers it: that one person, and nobody else, twice.
    assert delivered(rig.emu) == once and set(once) == set(people.inside)
    twice = [o for o, n in once.items() if n > 1]
    assert len(twice) <= (0 if custom_clientmsgid else 1)
    # The run that took over wrote the digest's report; the woken one left it alone.
    report = pushlog.get(rig.store, stalled.id)
    assert report is not None and report.status == "done"
    assert report.report["sent"] == len(people.inside)


def test_a_run_paused_past_its_lease_that_nobody_took_over_finishes_its_digest(
    tmp_path: Path,
) -> None:
    rig, people = _setup(tmp_path)
    first: subprocess.Popen[str] | None = None
    try:
        watch, paused = pause_at(rig, 10)
        first = digest_send(rig, LEASE_TTL)
        watch(first.pid)
        assert paused.wait(60), "the run never got to its tenth delivery"
        time.sleep(LEASE_TTL + 0.5)
        os.kill(first.pid, signal.SIGCONT)
        out, _ = first.communicate(timeout=120)
    finally:
        if first is not None and first.poll() is None:
            first.kill()
            first.wait(10)
        rig.close()
    assert first.returncode == 0, out
    assert delivered(rig.emu) == dict.fromkeys(people.inside, 1)
    assert sends(rig) == len(people.inside)


def test_a_second_run_while_the_first_holds_its_lease_is_refused(tmp_path: Path) -> None:
    rig, people = _setup(tmp_path)
    first: subprocess.Popen[str] | None = None
    try:
        watch, paused = pause_at(rig, 5)
        first = digest_send(rig)  # a lease of a minute: the pause stays well inside it
        watch(first.pid)
        assert paused.wait(60)
        second = digest_send(rig)
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 1
        assert "another digest run is under way" in out and "Traceback" not in out
        os.kill(first.pid, signal.SIGCONT)
        first_out, _ = first.communicate(timeout=120)
    finally:
        if first is not None and first.poll() is None:
            first.kill()
            first.wait(10)
        rig.close()
    assert first.returncode == 0, first_out
    assert delivered(rig.emu) == dict.fromkeys(people.inside, 1)
