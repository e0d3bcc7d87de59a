"""The measurements: webhook throughput per server, cold start, worker memory."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from pathlib import Path

import httpx

from bench import load
from bench.fixtures import ACCOUNT, newsbot_argv, write_config
from bench.procs import Server, free_port, memory_kb
from bot.callback import message_xml, post, read_reply, sign_request

WARM_BASE, RUN_BASE = 100_000_000, 300_000_000


def probe(server: Server, words: list[str], encrypt: bool = False) -> dict[str, int]:
    """Each keyword once, as a user would send it: what kinds of reply come back."""
    kinds: Counter[str] = Counter()
    with httpx.Client(timeout=10) as c:
        for i, w in enumerate(words):
            xml = message_xml(user=f"o_probe_{i}", account="gh_bench", text=w)
            r = post(server.url + "/wechat", xml, ACCOUNT.token, appid=ACCOUNT.appid,
                     aes_key=ACCOUNT.aes_key, encrypt=encrypt, client=c)
            kinds[r.kind] += 1
    return dict(kinds)


def webhook(server: Server, *, mode: str, expect: str, workdir: Path, duration: float,
            warmup: float, connections: int, safe_count: int = 0) -> dict:
    """Warm up, then one measured run. ``mode``: "plain" or "safe"."""
    def material(base: int, tag: str, count: int) -> load.Material:
        if mode == "safe":
            return load.safe_material(workdir, ACCOUNT, count, base, f"{server.name}-{tag}")
        return load.plain_material(workdir, ACCOUNT, expect, base)

    if warmup:
        load.run(server, material(WARM_BASE, "warm", safe_count // 4 or 1),
                 duration=warmup, connections=connections, workdir=workdir)
    m = material(RUN_BASE, "run", safe_count)
    return load.run(server, m, duration=duration, connections=connections, workdir=workdir)


def cold_start(workdir: Path, store: Path, tries: int = 3) -> dict:
    """``newsbot serve`` from spawn to the first 200 reply of a search, ``tries`` times."""
    times, kinds = [], []
    for n in range(tries):
        cfg = write_config(workdir, f"cold{n}", store)
        port = free_port()
        srv = Server(f"cold{n}", newsbot_argv(cfg, port), port, log=workdir / f"cold{n}.log")
        xml = message_xml(user="o_cold", account="gh_bench", text="花园口")
        with srv:
            deadline = time.monotonic() + 30
            with httpx.Client(timeout=10) as c:
                while time.monotonic() < deadline:
                    req = sign_request(xml, ACCOUNT.token)
                    try:
                        r = c.post(srv.url + "/wechat", params=req.params, content=req.body)
                    except httpx.TransportError:
                        time.sleep(0.002)
                        continue
                    if r.status_code == 200:
                        times.append(time.perf_counter() - srv.started_at)
                        kinds.append(read_reply(r.status_code, r.text, ACCOUNT.token).kind)
                        break
                    time.sleep(0.002)
    if not times:
        raise RuntimeError("newsbot never answered; see the cold*.log files")
    return {"seconds": statistics.median(times), "all": times, "reply_kinds": kinds}


def memory(workdir: Path, store: Path, words: list[str], rounds: int = 3) -> dict:
    """Peak RSS of a worker serving ``store`` after the query set (``rounds`` times over)."""
    cfg = write_config(workdir, "memory", store)
    port = free_port()
    srv = Server("memory", newsbot_argv(cfg, port), port, log=workdir / "memory.log")
    with srv:
        srv.wait_ready()
        before = memory_kb(srv.worker_pid())
        kinds: Counter[str] = Counter()
        for _ in range(rounds):
            kinds.update(probe(srv, words))
        after = memory_kb(srv.worker_pid())
    return {
        "rss_idle_mb": before["VmRSS"] / 1024,
        "rss_mb": after["VmRSS"] / 1024,
        "peak_rss_mb": after["VmHWM"] / 1024,
        "queries": sum(kinds.values()),
        "reply_kinds": dict(kinds),
    }
