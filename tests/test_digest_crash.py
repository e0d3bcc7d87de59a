"""A digest process killed mid-push (SIGKILL, not an exception), then run again: the rest go
out. On WeChat, which keeps no clientmsgid for customer-service messages, only the calls in
flight at the crash may reach their subscriber twice, at most ``[digest] concurrency`` of them;
where the platform honours clientmsgid, nobody gets it twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from digest_support import ROOT_ENV, Rig, add_people, add_stories, delivered

from handlers.digest import run_digest
from store import pushlog


def _wait_for(cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


@pytest.mark.parametrize("custom_clientmsgid", [False, True], ids=["wechat", "dedup-on"])
def test_killed_mid_push_then_rerun_completes(tmp_path: Path, custom_clientmsgid: bool) -> None:
    rig = Rig(tmp_path, custom_clientmsgid=custom_clientmsgid)
    try:
        add_stories(rig.store, 2)
        people = add_people(rig.store, rig.emu, 400)
        rig.emu.inject("latency", "message/custom/send", seconds=0.03)
        env = {
            **os.environ, **ROOT_ENV,
            "NEWSBOT_WECHAT_API_BASE_URL": rig.url,
            "NEWSBOT_DIGEST_CONCURRENCY": "4",
        }
        proc = subprocess.Popen(
            [sys.executable, "-c", "from bot.cli import main; main()", "--config",
             str(rig.config.path), "digest", "send", "--no-progress"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(lambda: len(rig.emu.deliveries) >= 100 or proc.poll() is not None)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        time.sleep(0.2)  # calls the dead process had in flight still land at the emulator
        before = len(rig.emu.deliveries)
        assert before < len(people.inside)
        digest = pushlog.latest(rig.store)
        assert digest is not None and digest.status == "running"
        tally = pushlog.tally(rig.store, digest.id)
        assert sum(tally.get("sending", {}).values()) >= 1  # uncertain rows were left behind
        rig.emu.clear_faults()

        report = run_digest(rig.store, rig.api, rig.config)

        [resumed] = report.resumed
        assert resumed.digest_id == digest.id and resumed.status == "done"
        assert resumed.sent == len(people.inside)
        assert report.status == "empty"  # and nothing new to send after it
        got = delivered(rig.emu)
        assert set(got) == set(people.inside) and min(got.values()) == 1
        assert pushlog.unfinished(rig.store) == []
        uncertain = sum(tally["sending"].values())
        assert uncertain <= 4  # [digest] concurrency: the calls in flight at the crash
        twice = [o for o, n in got.items() if n > 1]
        if custom_clientmsgid:  # sent again with their clientmsgid, dropped by the platform
            assert twice == []
            assert 1 <= rig.emu.stats().get("duplicates", 0) <= uncertain
        else:  # sent again and delivered again: only those, and at most twice
            assert len(twice) <= uncertain and max(got.values()) <= 2
    finally:
        rig.close()
