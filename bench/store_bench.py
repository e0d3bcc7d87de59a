"""Search on both store backends in one run: the same stories, the same queries.

    python3 bench/store_bench.py [--stories 100000] [--repeat 5] [--pg URL] [--webhook 10]
                                 [--rounds 3] [--webhook-only] [--keep DIR] [--json]

Builds a synthetic SQLite store (bench/search_corpus.py, indexed as search_bench does), copies
it with ``store.copy`` into an empty PostgreSQL database (``--pg``, ``$NEWSBOT_BENCH_PG_URL``,
else a private cluster on a free loopback port), then runs search_bench's query set (the
common words first) on each backend in turn, query by query, and reports p50/p95 per backend,
the ratio of PostgreSQL's to SQLite's, and whether each query's first page holds the same
stories. A third row runs PostgreSQL without holding one connection for a search (a pool
checkout per statement, the index totals read each time): the ratio shows what holding it buys.
``--webhook SECONDS`` then serves each store with ``newsbot serve`` and loads both with the load
bench's keyword searches in alternating rounds (``--rounds``): searches per second and their ratio. ``--webhook-only`` skips the search
rows (a quicker run when only the webhook row matters).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.search_bench import _pct, build_store, queries_for


class _Unpinned:
    """The PostgreSQL store as it searched before a search held one connection: every
    statement checks a connection out of the pool, and the index totals are read each time."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextmanager
    def pinned(self) -> Iterator[None]:
        yield


def _times(stores: dict[str, Any], qs: list[str],
           repeat: int) -> tuple[dict[str, list[float]], dict[str, dict[str, list[int]]]]:
    """Each query on each store in turn (interleaved: load on the machine falls on all alike)."""
    from store import search

    pages = {name: {q: [h.article_id for h in search.search(st, q).hits] for q in qs}
             for name, st in stores.items()}  # warm
    times: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(repeat):
        for q in qs:
            for name, st in stores.items():
                t = time.perf_counter()
                search.search(st, q)
                times[name].append((time.perf_counter() - t) * 1000)
    return {name: sorted(v) for name, v in times.items()}, pages


def _pg_config(workdir: Path, name: str, url: str) -> Path:
    """bench/fixtures.py's server config with the store on PostgreSQL at ``url``."""
    from bench import fixtures

    cfg = fixtures.write_config(workdir, name, workdir / "unused.db")
    text = cfg.read_text(encoding="utf-8")
    start = text.index("[store]")
    end = text.index("[", start + 1)
    cfg.write_text(text[:start] + f'[store]\nbackend = "postgres"\nurl = "{url}"\n\n'
                   + text[end:], encoding="utf-8")
    return cfg


def _settle(pg: str) -> None:
    """The server's upkeep after the bulk copy done now, before any timed row: vacuum and
    statistics (autovacuum would start on its own a minute after the copy) and a checkpoint
    (CHECKPOINT needs a superuser: skipped on a server where the bench is not one)."""
    import psycopg

    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pass


def webhook(lite_path: Path, pg: str, seconds: float, rounds: int = 3,
            workdir: Path | None = None) -> dict[str, Any]:
    """Searches per second through ``newsbot serve`` on each store, in alternating rounds (the
    load bench's keyword searches, 32 connections); each round's figure, the medians and their
    ratio."""
    from bench import fixtures, runs
    from bench.procs import Server, free_port

    workdir = workdir or lite_path.parent  # the servers' configs, state files and logs
    cfgs = {"sqlite": fixtures.write_config(workdir, "lite", lite_path),
            "postgres": _pg_config(workdir, "pg", pg)}
    rps: dict[str, list[float]] = {name: [] for name in cfgs}
    servers = {}
    for name, cfg in cfgs.items():
        port = free_port()
        servers[name] = Server(name, fixtures.newsbot_argv(cfg, port), port,
                               log=workdir / f"{name}.log")
    try:
        for srv in servers.values():
            srv.start()
            srv.wait_ready()
        for n in range(rounds):
            for name, srv in servers.items():
                r = runs.webhook(srv, mode="plain", expect="<xml>", workdir=workdir,
                                 duration=seconds, warmup=seconds / 3 if n == 0 else 0,
                                 connections=32)
                rps[name].append(r["rps"])
    finally:
        for srv in servers.values():
            srv.stop()
    med = {name: statistics.median(v) for name, v in rps.items()}
    return {"seconds": seconds, "rounds": rounds,
            "sqlite_rounds": [round(v) for v in rps["sqlite"]],
            "postgres_rounds": [round(v) for v in rps["postgres"]],
            "sqlite_rps": round(med["sqlite"], 1), "postgres_rps": round(med["postgres"], 1),
            "rps_ratio_pg_to_sqlite": round(med["postgres"] / med["sqlite"], 2)}


def _figures(times: list[float]) -> dict[str, float]:
    return {"p50_ms": round(_pct(times, 50), 3), "p95_ms": round(_pct(times, 95), 3),
            "mean_ms": round(statistics.fmean(times), 3)}


def _built(folder: Path, stories_n: int) -> Any:
    """The synthetic SQLite store of ``stories_n`` stories in ``folder``: built and indexed,
    or opened when a previous run with ``--keep`` left it there."""
    from store import search
    from store.db import open_store

    path = folder / f"bench-{stories_n}.db"
    if path.exists():
        return open_store(path)
    part = folder / f"bench-{stories_n}.part.db"
    part.unlink(missing_ok=True)
    lite = build_store(part, stories_n)
    search.rebuild(lite)
    lite.close()
    part.rename(path)
    return open_store(path)


def _search_rows(lite: Any, pgs: Any, repeat: int) -> dict[str, Any]:
    """The three search rows: p50/p95 per backend, their ratios, the same first pages."""
    qs = queries_for(lite)
    times, pages = _times({"sqlite": lite, "postgres": pgs,
                           "postgres_unpinned": _Unpinned(pgs)}, qs, repeat)
    same = sum(1 for q in qs if sorted(pages["sqlite"][q]) == sorted(pages["postgres"][q]))
    out: dict[str, Any] = {"queries": len(qs), "runs": len(times["sqlite"]),
                           "same_first_page": f"{same}/{len(qs)}"}
    out.update({name: _figures(v) for name, v in times.items()})
    out["p95_ratio_pg_to_sqlite"] = round(out["postgres"]["p95_ms"] / out["sqlite"]["p95_ms"], 2)
    out["p95_ratio_pinned_to_unpinned"] = round(
        out["postgres"]["p95_ms"] / out["postgres_unpinned"]["p95_ms"], 2)
    return out


def run(stories_n: int = 100_000, repeat: int = 5, pg: str | None = None,
        webhook_s: float = 0.0, keep: str | None = None, search_rows: bool = True,
        webhook_rounds: int = 3) -> dict[str, Any]:
    from store.copy import copy
    from store.db import open_store

    cluster = None
    if pg is None:
        from tests.pg_support import Cluster, create_database

        cluster = Cluster().start()
        pg = create_database(cluster.url, "bench")
    tmp = tempfile.TemporaryDirectory(prefix="newsbot-store-bench-")
    folder = Path(keep) if keep else Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        lite = _built(folder, stories_n)
        t_build = time.perf_counter() - t0
        pgs = open_store(pg, pool_size=2)
        t0 = time.perf_counter()
        if int(pgs.db.execute("SELECT count(*) FROM articles").fetchone()[0]) != stories_n:
            copy(lite, pgs)  # an empty database; one that holds the stories is used as it is
        _settle(pg)
        t_copy = time.perf_counter() - t0
        out: dict[str, Any] = {"stories": stories_n, "build_s": round(t_build, 1),
                               "copy_s": round(t_copy, 1)}
        if search_rows:
            out.update(_search_rows(lite, pgs, repeat))
        lite.close()
        pgs.close()
        if webhook_s:
            out["webhook"] = webhook(folder / f"bench-{stories_n}.db", pg, webhook_s,
                                     webhook_rounds, workdir=Path(tmp.name))
        return out
    finally:
        tmp.cleanup()
        if cluster is not None:
            cluster.remove()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stories", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each query per backend")
    ap.add_argument("--pg", default=os.environ.get("NEWSBOT_BENCH_PG_URL"),
                    help="an empty PostgreSQL database (default: a private cluster)")
    ap.add_argument("--webhook", type=float, default=0.0, metavar="SECONDS",
                    help="also load `newsbot serve` on each store for SECONDS a round")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating webhook rounds on each store (the median is reported)")
    ap.add_argument("--webhook-only", action="store_true",
                    help="skip the search rows (with --webhook: only the webhook row)")
    ap.add_argument("--keep", metavar="DIR",
                    help="keep the SQLite store in DIR and use it again on the next run (with"
                         " --pg naming a database that already holds the stories, the copy"
                         " is skipped too)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.webhook_only and not a.webhook:
        ap.error("--webhook-only needs --webhook SECONDS")
    if a.rounds < 1:
        ap.error("--rounds must be 1 or more")
    fig = run(a.stories, a.repeat, a.pg, a.webhook, a.keep, search_rows=not a.webhook_only,
              webhook_rounds=a.rounds)
    if a.json:
        print(json.dumps(fig, ensure_ascii=False, indent=2))
        return 0
    print(f"{fig['stories']} stories (built in {fig['build_s']} s, copied to PostgreSQL in"
          f" {fig['copy_s']} s)")
    if "queries" in fig:
        print(f"  {fig['queries']} queries x {a.repeat} on each backend")
        for name in ("sqlite", "postgres", "postgres_unpinned"):
            f = fig[name]
            print(f"  {name:17} p50 {f['p50_ms']} ms  p95 {f['p95_ms']} ms")
        print(f"  PostgreSQL/SQLite p95: {fig['p95_ratio_pg_to_sqlite']}x;"
              f" one connection per search / per statement p95:"
              f" {fig['p95_ratio_pinned_to_unpinned']}x;"
              f" same first page: {fig['same_first_page']}")
    if "webhook" in fig:
        w = fig["webhook"]
        print(f"  webhook searches/s: SQLite {w['sqlite_rps']}, PostgreSQL {w['postgres_rps']}"
              f" ({w['rps_ratio_pg_to_sqlite']}x; median of {w['rounds']} rounds of"
              f" {w['seconds']:g} s each)")
        print(f"    rounds: SQLite {w['sqlite_rounds']}, PostgreSQL {w['postgres_rounds']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
