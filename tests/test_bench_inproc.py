"""``python3 -m bench.inproc`` runs on a fresh checkout and every message it sends is answered."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_inproc_answers_every_message_and_times_the_phases() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.inproc", "--messages", "300", "--concurrency", "8",
         "--phases", "--words", "养老,帮助,3"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "300 messages, 8 at once" in done.stdout
    assert "0 answers without a reply" in done.stdout
    for phase in ("open", "dispatch", "settle"):
        assert f"  {phase} " in done.stdout
