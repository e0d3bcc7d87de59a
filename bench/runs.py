"""The measurements: webhook throughput per server, cold start, worker memory."""

from __future__ import annotations

import itertools
import statistics
import time
from collections import Counter
from pathlib import Path

import httpx

from bench import load
from bench.fixtures import ACCOUNT, newsbot_argv, write_config
from bench.procs import Server, free_port, memory_kb
from bot.callback import message_xml, post, read_reply, sign_request

# MsgIds: every load run (warm-ups included) starts at its own multiple of 10^8, so no two
# runs against one server share a message and the dedup never answers from its records.
_runs = itertools.count(1)


def next_base() -> int:
    return next(_runs) * 100_000_000


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
            warmup: float, connections: int, safe_count: int = 0,
            words: list[str] = load.KEYWORDS) -> dict:
    """Warm up, then one measured run. ``mode``: "plain" or "safe"."""
    def material(base: int, tag: str, count: int, seconds: float) -> load.Material:
        if mode == "safe":
            return load.safe_material(workdir, ACCOUNT, count, base, f"{server.name}-{tag}")
        return load.plain_material(workdir, ACCOUNT, expect, base, words,
                                   count=int(load.PLAIN_RATE * (seconds + 1)))

    if warmup:
        load.run(server, material(next_base(), "warm", safe_count // 4 or 1, warmup),
                 duration=warmup, connections=connections, workdir=workdir)
    m = material(next_base(), "run", safe_count, duration)
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


def memory(workdir: Path, store: Path, words: list[str], *, rounds: int = 2,
           load_seconds: float = 5.0, connections: int = 32) -> dict:
    """Peak RSS of a worker serving ``store``: the query set ``rounds`` times one by one, then
    the same queries from ``connections`` connections at once, so every handler thread has
    opened its connections and caches."""
    cfg = write_config(workdir, "memory", store)
    port = free_port()
    srv = Server("memory", newsbot_argv(cfg, port), port, log=workdir / "memory.log")
    with srv:
        srv.wait_ready()
        before = memory_kb(srv.worker_pid())
        kinds: Counter[str] = Counter()
        for _ in range(rounds):
            kinds.update(probe(srv, words))
        sequential = memory_kb(srv.worker_pid())
        burst = load.run(srv, load.plain_material(workdir, ACCOUNT, "<xml>", next_base(), words),
                         duration=load_seconds, connections=connections, workdir=workdir)
        after = memory_kb(srv.worker_pid())
    return {
        "rss_idle_mb": round(before["VmRSS"] / 1024, 1),
        "rss_after_queries_mb": round(sequential["VmRSS"] / 1024, 1),
        "rss_after_load_mb": round(after["VmRSS"] / 1024, 1),
        "peak_rss_mb": round(after["VmHWM"] / 1024, 1),
        "queries": sum(kinds.values()) + burst["requests"],
        "reply_kinds": dict(kinds),
        "load_rps": round(burst["rps"], 1),
    }
