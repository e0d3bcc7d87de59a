"""The bench's ratios come from rounds that take every server once, in a turning order."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as bench_main


def test_rounds_turn_the_order_and_report_the_median_of_each_ratio(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[str, float, dict[str, Any]]] = []
    speed = {"ceiling": [20_000, 25_000, 30_000], "newsbot": [4_000, 5_000, 6_000],
             "newsbot-safe": [3_000, 4_500, 4_800]}

    def fake_webhook(server: str, *, duration: float, warmup: float, **how: Any) -> dict[str, Any]:
        n = sum(1 for c in calls if c[0] == server)
        calls.append((server, duration, how))
        assert warmup == 2.0  # each run warms up as a row's does
        bad = 7 if server == "newsbot-safe" and n == 2 else 0  # a run with wrong answers
        return {"rps": speed[server][n], "bad": bad}

    monkeypatch.setattr(bench_main.runs, "webhook", fake_webhook)
    up = {name: (name, {"mode": "plain", "expect": "x"}) for name in speed}
    up["newsbot-safe"] = ("newsbot-safe", {"mode": "safe", "expect": "y", "safe_count": 110_000})
    args = argparse.Namespace(rounds=3, round_duration=5.0, duration=10.0, warmup=2.0,
                              connections=32)
    got = bench_main._rounds(args, up, tmp_path)  # type: ignore[arg-type]

    order = [c[0] for c in calls]
    assert order == ["ceiling", "newsbot", "newsbot-safe",
                     "newsbot", "newsbot-safe", "ceiling",
                     "newsbot-safe", "ceiling", "newsbot"]
    assert all(c[1] == 5.0 for c in calls)
    assert [c[2]["safe_count"] for c in calls if "safe_count" in c[2]] == [62_000] * 3
    ceiling = got["ratios"]["newsbot_over_ceiling"]
    assert ceiling["rounds"] == [4_000 / 20_000, 5_000 / 25_000, 6_000 / 30_000]
    assert ceiling["median"] == pytest.approx(0.2)
    safe = got["ratios"]["safe_over_plain"]
    assert safe["rounds"] == [3_000 / 4_000, 4_500 / 5_000]  # the bad run counts for nothing
    assert safe["median"] == pytest.approx((0.75 + 0.9) / 2)
    assert "newsbot_over_werobot" not in got["ratios"]  # no WeRoBot up: no ratio


def test_rounds_run_as_long_as_the_rows_unless_told(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[float] = []

    def fake_webhook(server: str, *, duration: float, **how: Any) -> dict[str, Any]:
        seen.append(duration)
        return {"rps": 1000.0, "bad": 0}

    monkeypatch.setattr(bench_main.runs, "webhook", fake_webhook)
    args = argparse.Namespace(rounds=2, round_duration=0.0, duration=10.0, warmup=2.0,
                              connections=32)
    got = bench_main._rounds(args, {"newsbot": ("n", {}), "ceiling": ("c", {})}, tmp_path)  # type: ignore[arg-type]
    assert seen == [10.0] * 4
    assert got["ratios"]["newsbot_over_ceiling"] == {"median": 1.0, "rounds": [1.0, 1.0]}
