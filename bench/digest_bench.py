"""Digest benchmark: one digest to N subscribers through the WeChat emulator.

    python3 bench/digest_bench.py [--subscribers 10000] [--latency 0.02] [--concurrency N]
                                  [--rate R] [--json]

The emulator runs in its own process (as WeChat is another machine) with ``latency`` seconds
injected into every API call. The digest runs as ``newsbot digest send`` runs it: the shipped
[digest] concurrency and rate unless given, the push log written row by row in SQLite. Every
subscriber's window is open, so each one is a delivery. Reported: deliveries per second over
the whole run (planning, push log and report included), and the emulator's count of
duplicates and of subscribers who got nothing. ``run()`` returns the figures as a dict for the
bench runner.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

APPID, SECRET = "wxbenchdigest0001", "bench-secret"
TARGET_PER_S = 300.0


def _openid(i: int) -> str:
    return f"o_bench_{i:06d}"


def _emulator(n: int, latency: float, urlq: Any, stop: Any) -> None:
    """Child process: an emulator whose users all follow and spoke an hour ago."""
    import logging

    from bot.emulator import Emulator

    logging.getLogger("newsbot.emulator").setLevel(logging.WARNING)
    emu = Emulator(APPID, SECRET)
    spoke = time.time() - 3600
    for i in range(n):
        emu.follow(_openid(i))
        emu.user_spoke(_openid(i), spoke)
    if latency:
        emu.inject("latency", None, seconds=latency)
    urlq.put(emu.start())
    stop.wait()
    emu.stop()


def _store(folder: Path, n: int, url: str, concurrency: int | None, rate: float | None) -> Any:
    from bot.config import load_config
    from store import articles
    from store.articles import Article
    from store.db import open_store

    digest = ""
    if concurrency:
        digest += f"concurrency = {concurrency}\n"
    if rate:
        digest += f"rate = {rate}\n"
    cfg_path = folder / "newsbot.toml"
    cfg_path.write_text(
        f'[wechat]\ntoken = "bench"\nappid = "{APPID}"\nappsecret = "{SECRET}"\n'
        f'api_base_url = "{url}"\n[store]\npath = "{folder / "store.db"}"\n'
        f'[state]\npath = "{folder / "state.db"}"\n[digest]\n{digest}',
        encoding="utf-8",
    )
    config = load_config(cfg_path, env={})
    store = open_store(config.resolve(config.store["path"]))
    for i in range(4):
        articles.save(store, Article(title=f"社区党支部组织党员志愿服务第{i}次",
                                     categories=["党建"],
                                     body=[f"党员们走进小区，为居民义务理发、量血压。第{i}次。"]))
        articles.save(store, Article(title=f"老旧小区改造进入第{i}期", categories=["社区"],
                                     body=[f"居民们议定了加装电梯和停车位的方案。第{i}期。"]))
    mixes = (["党建"], ["社区"], ["党建", "社区"])
    seen = time.time() - 3600
    with store.transaction():
        store.db["subscribers"].insert_all(
            [{"openid": _openid(i), "categories": json.dumps(mixes[i % 3], ensure_ascii=False),
              "following": 1, "subscribed_at": "2024-01-01T00:00:00+00:00",
              "updated_at": "2024-01-01T00:00:00+00:00", "last_seen": seen} for i in range(n)],
            pk="openid",
        )
    return config, store


def run(subscribers: int = 10000, latency: float = 0.02, concurrency: int | None = None,
        rate: float | None = None) -> dict[str, Any]:
    """One digest to ``subscribers`` through the emulator; the figures as a dict."""
    import httpx

    from bot.state import open_state
    from bot.wxapi import WeChatAPI
    from handlers.digest import run_digest

    ctx = mp.get_context("spawn")
    urlq, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_emulator, args=(subscribers, latency, urlq, stop), daemon=True)
    child.start()
    try:
        url = urlq.get(timeout=120)
        with tempfile.TemporaryDirectory(prefix="newsbot-digest-bench-") as tmp:
            config, store = _store(Path(tmp), subscribers, url, concurrency, rate)
            state = open_state(config)
            api = WeChatAPI(config, state)
            t0 = time.perf_counter()
            report = run_digest(store, api, config)
            seconds = time.perf_counter() - t0
            api.close()
            state.close()
            store.close()
        with httpx.Client(base_url=url, timeout=60) as http:
            items = http.get("/emulator/deliveries").json()["deliveries"]
            stats = http.get("/emulator/stats").json()
    finally:
        stop.set()
        child.join(timeout=15)
    got = Counter(d["openid"] for d in items if d["channel"] == "custom")
    per_s = len(items) / seconds if seconds else 0.0
    return {
        "subscribers": subscribers,
        "latency_ms": latency * 1000,
        "concurrency": config.digest["concurrency"],
        "rate_limit": config.digest["rate"],
        "seconds": round(seconds, 2),
        "deliveries": len(items),
        "deliveries_per_s": round(per_s, 1),
        "duplicates": sum(n - 1 for n in got.values() if n > 1),
        "missing": subscribers - len(got),
        "report_sent": report.sent,
        "report_failed": sum(report.failed.values()),
        "token_fetches": stats.get("token_fetches"),
        "target_per_s": TARGET_PER_S,
        "meets_target": per_s >= TARGET_PER_S and len(got) == len(items) == subscribers,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscribers", type=int, default=10000)
    ap.add_argument("--latency", type=float, default=0.02, help="seconds added to every API call")
    ap.add_argument("--concurrency", type=int, help="[digest] concurrency (default: shipped)")
    ap.add_argument("--rate", type=float, help="[digest] rate (default: shipped)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    r = run(args.subscribers, args.latency, args.concurrency, args.rate)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"digest to {r['subscribers']} subscribers, {r['latency_ms']:.0f} ms per API call, "
              f"concurrency {r['concurrency']}, rate limit {r['rate_limit']:.0f}/s")
        print(f"  {r['deliveries']} deliveries in {r['seconds']} s = {r['deliveries_per_s']}/s "
              f"(target {TARGET_PER_S:.0f}/s)")
        print(f"  duplicates {r['duplicates']}, missing {r['missing']}, failed "
              f"{r['report_failed']}, token fetches {r['token_fetches']}")
        print("  meets target" if r["meets_target"] else "  BELOW TARGET")
    return 0 if r["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
