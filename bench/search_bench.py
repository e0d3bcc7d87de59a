"""Search benchmark: index build rate and query latency over a synthetic store.

    python3 bench/search_bench.py [--stories 100000] [--workers N] [--repeat 5] [--json]

Builds a store of synthetic stories (bench/search_corpus.py), times ``store.search.rebuild``
(stories/s), then runs a fixed query set through ``store.search.search`` and reports p50/p95
latency over every run. The query set includes the corpus's most common words (党建, 社区,
主题教育, 党员), which match most stories, pairs of them, rarer topics, people, places,
numbers, pinyin, a query that only the OR fallback answers, one that finds nothing, and hostile
text. ``run()`` returns the figures as a dict for the bench runner.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.search_corpus import stories

COMMON = ["党建", "社区", "主题教育", "党员"]
FIXED = COMMON + [
    "社区党员", "党建引领", "党员志愿者", "主题教育 党支部", "社区 养老", "党员干部 基层治理",
    "网格员", "垃圾分类", "老旧小区改造", "居家养老", "红色教育", "志愿服务队",
    "量子计算机", 'NEAR( "AND OR * -:',
]


def queries_for(store: Any) -> list[str]:
    """The fixed queries plus people, places, numbers and pinyin drawn from the store."""
    from store.pinyin import keys

    rows = store.db.execute(
        "SELECT title, authors FROM articles WHERE id IN (7, 1234, 5555, 20001, 77777)"
    ).fetchall()
    out = list(FIXED)
    for title, authors in rows:
        person = json.loads(authors)[0]
        out.append(person)
        out.append(keys(person)[0])  # full pinyin
        out.append(keys(person)[-1])  # first letters
        out.append(title[:4] + "养老")  # a place (and its tail) with a topic
        out.append(f"{person} 火箭")  # only the OR fallback finds this
    out += ["643", "1998", "天河社区养老", "花园社区垃圾分类"]
    return out


def build_store(path: Path, n: int) -> Any:
    from store.db import open_store

    store = open_store(path)
    rows = stories(n)
    batch: list[dict[str, Any]] = []
    with store.transaction():
        for r in rows:
            batch.append(r)
            if len(batch) == 2000:
                store.db["articles"].insert_all(batch, batch_size=2000)
                batch = []
        if batch:
            store.db["articles"].insert_all(batch, batch_size=2000)
    return store


def run(stories_n: int = 100_000, workers: int | None = None, repeat: int = 5,
        path: str | None = None, reuse: bool = False) -> dict[str, Any]:
    """Build, index and query a synthetic store; the figures as a dict."""
    from store import search

    tmp = None
    if path is None:
        tmp = tempfile.TemporaryDirectory(prefix="newsbot-search-bench-")
        path = os.path.join(tmp.name, "bench.db")
    try:
        if reuse and os.path.exists(path):  # query figures only, over a store built before
            from store.db import open_store

            store = open_store(path)
            indexed = int(store.db.execute("SELECT count(*) FROM search_docs").fetchone()[0])
            t_gen = t_index = cpu_index = float("nan")
        else:
            t0 = time.perf_counter()
            store = build_store(Path(path), stories_n)
            t_gen = time.perf_counter() - t0
            cpu0 = _cpu()
            t0 = time.perf_counter()
            indexed = search.rebuild(store, workers=workers)
            t_index = time.perf_counter() - t0
            cpu_index = _cpu() - cpu0

        qs = queries_for(store)
        cold: list[float] = []
        for q in qs:  # first run: builds the top lists the query needs, warms the caches
            t = time.perf_counter()
            search.search(store, q)
            cold.append((time.perf_counter() - t) * 1000)
        cold.sort()
        times: list[float] = []
        per_query: dict[str, dict[str, Any]] = {}
        for q in qs:
            mine = []
            for _ in range(repeat):
                t = time.perf_counter()
                res = search.search(store, q)
                mine.append((time.perf_counter() - t) * 1000)
            times += mine
            per_query[q] = {"ms": round(statistics.median(mine), 3), "mode": res.mode,
                            "total": res.total}
        times.sort()
        store.close()
        return {
            "stories": indexed,
            "cores": os.cpu_count(),
            "workers": workers or os.cpu_count(),
            "generate_s": round(t_gen, 2),
            "index_s": round(t_index, 2),
            "index_rate": round(indexed / t_index, 1),
            "index_cpu_ms_per_story": round(cpu_index / indexed * 1000, 3),
            # what the cores could do undisturbed: all CPU seconds spread over every core
            "index_rate_cpu_bound": round(indexed / cpu_index * (os.cpu_count() or 1), 1),
            "cold_p95_ms": round(_pct(cold, 95), 3),
            "cold_max_ms": round(cold[-1], 3),
            "queries": len(qs),
            "runs": len(times),
            "p50_ms": round(_pct(times, 50), 3),
            "p95_ms": round(_pct(times, 95), 3),
            "max_ms": round(times[-1], 3),
            "db_mb": round(os.path.getsize(path) / 1e6, 1),
            "per_query": per_query,
        }
    finally:
        if tmp is not None:
            tmp.cleanup()


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (the rebuild's workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _pct(sorted_values: list[float], p: float) -> float:
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stories", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=None, help="cutting processes (default: cores)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each query")
    ap.add_argument("--db", help="keep the store at this path instead of a temporary one")
    ap.add_argument("--reuse", action="store_true",
                    help="with --db: query the store already there instead of building one")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args(argv)
    fig = run(a.stories, workers=a.workers, repeat=a.repeat, path=a.db, reuse=a.reuse)
    if a.json:
        print(json.dumps(fig, ensure_ascii=False, indent=2))
        return 0
    print(f"{fig['stories']} stories, {fig['cores']} cores ({fig['workers']} workers), "
          f"store {fig['db_mb']} MB")
    print(f"index: {fig['index_s']} s, {fig['index_rate']} stories/s "
          f"({fig['index_cpu_ms_per_story']} ms CPU per story: "
          f"{fig['index_rate_cpu_bound']} stories/s with the cores to itself)")
    print(f"first run of each query (builds top lists): p95 {fig['cold_p95_ms']} ms, "
          f"max {fig['cold_max_ms']} ms")
    print(f"search: {fig['queries']} queries x {a.repeat}: p50 {fig['p50_ms']} ms, "
          f"p95 {fig['p95_ms']} ms, max {fig['max_ms']} ms")
    for q, d in sorted(fig["per_query"].items(), key=lambda kv: -kv[1]["ms"]):
        print(f"  {d['ms']:8.2f} ms  {d['mode']:4} {d['total']:>7}  {q}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
