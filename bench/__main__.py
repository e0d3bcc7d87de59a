"""``python3 -m bench``: every measurement in one go, a table, and bench/results/latest.json.

    python3 -m bench                      # the full run (its length: docs/performance.md)
    python3 -m bench --duration 5 --skip sub,memory
    python3 -m bench --rounds 5           # more rounds for the ratios (the targets' medians)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import fixtures, load, report, runs
from bench.procs import Server, free_port

PARTS = ("ceiling", "help", "werobot", "safe", "cold", "memory", "sub")


def _row(r: dict[str, Any], what: str) -> dict[str, Any]:
    return {**r, "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000, "what": what}


def _server(name: str, argv: list[str], workdir: Path, **kw: Any) -> Server:
    port = free_port()
    return Server(name, argv(port) if callable(argv) else argv, port,
                  log=workdir / f"{name}.log", **kw)


def webhook_rows(args: argparse.Namespace, workdir: Path, seed: Path) -> tuple[dict, dict, dict]:
    """The webhook rows (one run each, in turn), then ``--rounds`` rounds that run every server
    once more, for the ratios (see :func:`_rounds`): the servers stay up side by side, so each
    ratio is of two runs a minute or so apart, and the median of the rounds is reported (this
    machine's speed drifts by more than the targets' margins over a few minutes)."""
    kw = {"workdir": workdir, "duration": args.duration, "warmup": args.warmup,
          "connections": args.connections}
    rows: dict[str, Any] = {}
    probes: dict[str, Any] = {}
    up: dict[str, tuple[Server, Any]] = {}  # name -> (server, its webhook() arguments)

    with contextlib.ExitStack() as stack:
        def start(name: str, argv: Any, ready: str = "/healthz", **server_kw: Any) -> Server:
            s = stack.enter_context(_server(name, argv, workdir, **server_kw))
            s.wait_ready(ready)
            return s

        if "ceiling" not in args.skip:
            s = start("ceiling", fixtures.ceiling_argv, "/", cwd=fixtures.ROOT)
            up["ceiling"] = s, {"mode": "plain", "expect": "success"}
            rows["ceiling"] = _row(runs.webhook(s, **up["ceiling"][1], **kw),
                                   "A: bare ASGI 'success', same uvicorn")

        cfg = fixtures.write_config(workdir, "plain", seed)
        s = start("newsbot", lambda p: fixtures.newsbot_argv(cfg, p))
        up["newsbot"] = s, {"mode": "plain", "expect": "<xml>"}
        probes["plain"] = runs.probe(s, load.KEYWORDS)
        rows["newsbot"] = _row(runs.webhook(s, **up["newsbot"][1], **kw),
                               "newsbot serve, plain, a search each")
        if "help" not in args.skip:
            rows["newsbot-help"] = _row(
                runs.webhook(s, mode="plain", expect="<xml>", words=["帮助"], **kw),
                "the same server answering 帮助 (fixed text)",
            )

        if "safe" not in args.skip:
            count = int(rows["newsbot"]["rps"] * (args.duration + 1) * 1.5) + 2000
            cfg = fixtures.write_config(workdir, "safe", seed)
            s = start("newsbot-safe", lambda p: fixtures.newsbot_argv(cfg, p))
            up["newsbot-safe"] = s, {"mode": "safe", "expect": "<Encrypt>", "safe_count": count}
            probes["safe"] = runs.probe(s, load.KEYWORDS, encrypt=True)
            rows["newsbot-safe"] = _row(runs.webhook(s, **up["newsbot-safe"][1], **kw),
                                        "the same, safe mode (AES)")

        venv_dir = None if "werobot" in args.skip else fixtures.werobot_venv()
        if "werobot" in args.skip:
            pass
        elif venv_dir is None:
            rows["werobot"] = {"error": "WeRoBot's virtualenv could not be made"}
        else:
            for name, session, what in (
                ("werobot", "off", "B: WeRoBot, gunicorn sync, fixed text"),
                ("werobot-session", "on", "B with its default SQLite session"),
            ):
                env = {"BENCH_TOKEN": fixtures.ACCOUNT.token, "BENCH_WEROBOT_SESSION": session}
                s = start(name, lambda p: fixtures.werobot_argv(venv_dir, p), "/",
                          cwd=workdir, env=env)
                up[name] = s, {"mode": "plain", "expect": "<xml>"}
                rows[name] = _row(runs.webhook(s, **up[name][1], **kw), what)

        rounds = _rounds(args, up, workdir)
    return rows, probes, rounds


# ratio name -> (numerator, denominator) among the servers
RATIOS = {
    "newsbot_over_ceiling": ("newsbot", "ceiling"),
    "newsbot_over_werobot": ("newsbot", "werobot"),
    "newsbot_over_werobot_session": ("newsbot", "werobot-session"),
    "safe_over_plain": ("newsbot-safe", "newsbot"),
}


def _rounds(args: argparse.Namespace, up: dict[str, tuple[Server, Any]], workdir: Path) -> dict:
    """``args.rounds`` rounds of a run per server, as long as a row's (warm-up included) unless
    ``--round-duration`` says otherwise, each server once per round, the order turned by one
    each round (no server always follows the same one); the ratios of each round, and their
    medians. Runs as long as the rows' matter: WeRoBot's sync worker closes every connection,
    so its rate over short runs overstates its rate over long ones (docs/performance.md)."""
    per_round: list[dict[str, float]] = []
    duration = args.round_duration or args.duration
    names = list(up)
    for i in range(args.rounds):
        rps = {}
        for name in names[i % len(names):] + names[:i % len(names)]:  # each round starts later
            server, how = up[name]
            if "safe_count" in how:  # enough messages for the run, however long
                how = {**how, "safe_count": int(
                    how["safe_count"] * (duration + 1) / (args.duration + 1)) + 2000}
            r = runs.webhook(server, workdir=workdir, duration=duration, warmup=args.warmup,
                             connections=args.connections, **how)
            rps[name] = r["rps"] if r["bad"] == 0 else 0.0
        per_round.append(rps)
    ratios: dict[str, Any] = {}
    for key, (a, b) in RATIOS.items():
        each = [r[a] / r[b] for r in per_round if r.get(a) and r.get(b)]
        if each:
            ratios[key] = {"median": statistics.median(each), "rounds": each}
    return {"rps": per_round, "ratios": ratios}


def sub_bench(path: Path, extra: list[str], timeout: float) -> dict[str, Any]:
    """Run a sibling bench with ``--json``; its figures, or its output when it fails."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, str(path), "--json", *extra], cwd=fixtures.ROOT,
                           capture_output=True, text=True, timeout=timeout, check=False)
        out, code = p.stdout, p.returncode
        if code:
            out += p.stderr[-2000:]
    except subprocess.TimeoutExpired:
        out, code = f"(stopped after {timeout:.0f} s)", -1
    res: dict[str, Any] = {"exit": code, "seconds": round(time.perf_counter() - t0, 1)}
    try:
        res["figures"] = json.loads(out) if code == 0 else None
    except ValueError:
        res["figures"] = None
    if res["figures"] is None:
        res["output"] = out[-4000:]
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds that run every server once more, for the ratios (0: none)")
    ap.add_argument("--round-duration", type=float, default=0.0,
                    help="seconds per run in a round (default: --duration, after --warmup)")
    ap.add_argument("--skip", default="", help=f"comma-separated parts to leave out: {','.join(PARTS)}")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, stores)")
    ap.add_argument("--generator", choices=("wrk", "pyload"),
                    help="load generator (default: wrk when installed, else bench/pyload.py)")
    args = ap.parse_args(argv)
    if args.rounds < 0 or args.round_duration < 0:
        ap.error("--rounds and --round-duration cannot be negative")
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if unknown := args.skip - set(PARTS):
        ap.error(f"unknown part(s) {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")

    if args.generator:
        load.GENERATOR = args.generator
    workdir = Path(tempfile.mkdtemp(prefix="newsbot-bench-"))
    results: dict[str, Any] = {
        "machine": {
            "date": datetime.now().astimezone().isoformat(timespec="seconds"),
            "nproc": os.cpu_count(), "python": platform.python_version(),
            "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "generator": load.generator(),
        },
        "params": {"duration": args.duration, "warmup": args.warmup,
                   "connections": args.connections},
    }
    try:
        seed = workdir / "seed.db"
        results["stores"] = {"seed": fixtures.seed_store(seed)}
        rows, probes, rounds = webhook_rows(args, workdir, seed)
        results["webhook"], results["probes"], results["rounds"] = rows, probes, rounds
        # the ratios: the median of the rounds; without rounds, the rows' own
        ratios: dict[str, float] = {}
        for key, (a, b) in RATIOS.items():
            if key in rounds["ratios"]:
                ratios[key] = rounds["ratios"][key]["median"]
            elif rows.get(a, {}).get("rps") and rows.get(b, {}).get("rps"):
                ratios[key] = rows[a]["rps"] / rows[b]["rps"]
        results["ratios"] = ratios
        if "cold" not in args.skip:
            results["cold_start"] = runs.cold_start(workdir, seed)
        big_path = workdir / "big.db"
        if "sub" not in args.skip:
            # the search bench leaves its 100,000-story store for the memory run
            subs = {}
            for name, extra in (("search_bench.py", ["--db", str(big_path)]),
                                ("digest_bench.py", [])):
                if (p := fixtures.sibling_bench(name)) is not None:
                    subs[name] = sub_bench(p, extra, timeout=1200)
            results["sub_benches"] = subs
        if "memory" not in args.skip:
            big = fixtures.big_store(big_path)
            if big is None:
                results["memory"] = {"skipped": "bench/search_bench.py is missing"}
            else:
                queries = big.pop("queries") + load.KEYWORDS
                results["stores"]["big"] = {k: v for k, v in big.items() if k != "path"}
                results["memory"] = runs.memory(workdir, big["path"], queries)
    finally:
        results["machine"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        results["workdir"] = str(workdir) if args.keep else None
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["targets"] = report.check(results)
    path = report.save(results)
    report.print_report(results)
    print(f"\nwritten to {path.relative_to(fixtures.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
