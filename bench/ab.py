"""``python3 -m bench.ab OTHER``: the webhook rows of another checkout against this one.

Both trees' ``newsbot serve`` run side by side, each on a copy of the same seed store, and are
measured in turn: in each round every row runs once on each tree, which tree goes first
alternating from round to round, so the machine's drift from minute to minute falls on both
alike. Prints each row's rates and the median of its rounds' ratios (this tree over the
other); the figures also go to bench/results/ab.json.

    git worktree add /tmp/base main          # the tree to compare with
    python3 -m bench.ab /tmp/base            # 4 rounds of 5 s runs, about 6 minutes
    python3 -m bench.ab /tmp/base --rounds 6 --rows newsbot,newsbot-help
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import fixtures, runs
from bench.load import KEYWORDS
from bench.procs import Server, free_port

# row -> how its runs are made
ROWS: dict[str, dict[str, Any]] = {
    "newsbot": {"mode": "plain", "expect": "<xml>", "words": KEYWORDS},
    "newsbot-help": {"mode": "plain", "expect": "<xml>", "words": ["帮助"]},
    "newsbot-safe": {"mode": "safe", "expect": "<Encrypt>"},
}
SAFE_SPARE = 1.5  # safe-mode messages prepared per one the plain row answered in a run


def _start(stack: contextlib.ExitStack, name: str, tree: Path, config: Path,
           workdir: Path) -> Server:
    port = free_port()
    server = Server(name, fixtures.newsbot_argv(config, port), port, cwd=tree,
                    env={"PYTHONPATH": str(tree)}, log=workdir / f"{name}.log")
    stack.enter_context(server)
    server.wait_ready("/healthz")
    return server


def measure(trees: dict[str, Path], rows: list[str], args: argparse.Namespace,
            workdir: Path) -> list[dict[str, dict[str, float]]]:
    """Rounds of runs: each round, each row on each tree, the order of the trees turned."""
    seed = workdir / "seed.db"
    fixtures.seed_store(seed)
    per_round: list[dict[str, dict[str, float]]] = []
    with contextlib.ExitStack() as stack:
        servers: dict[tuple[str, str], Server] = {}
        for tree_name, tree in trees.items():
            store = workdir / f"{tree_name}.db"
            shutil.copyfile(seed, store)
            for mode in ("plain", "safe"):
                cfg = fixtures.write_config(workdir, f"{tree_name}-{mode}", store)
                servers[tree_name, mode] = _start(stack, f"{tree_name}-{mode}", tree, cfg, workdir)
        names = list(trees)
        for i in range(args.rounds):
            order = names if i % 2 == 0 else names[::-1]
            rates: dict[str, dict[str, float]] = {row: {} for row in rows}
            for row in rows:
                how = dict(ROWS[row])
                if how["mode"] == "safe":  # each message encrypted beforehand: enough of them
                    fastest = max([3000.0, *(r for x in rates.values() for r in x.values())])
                    count = int(fastest * SAFE_SPARE * (args.duration + 1)) + 2000
                    how = {"mode": "safe", "expect": how["expect"], "safe_count": count}
                for tree_name in order:
                    r = runs.webhook(servers[tree_name, how["mode"]], workdir=workdir,
                                     duration=args.duration, warmup=args.warmup,
                                     connections=args.connections, **how)
                    rates[row][tree_name] = r["rps"] if r["bad"] == 0 else 0.0
                    print(f"round {i + 1} {row:13} {tree_name:5} {rates[row][tree_name]:8.0f}/s",
                          flush=True)
            per_round.append(rates)
    return per_round


def summary(per_round: list[dict[str, dict[str, float]]], rows: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in rows:
        pairs = [r[row] for r in per_round if r[row].get("this") and r[row].get("other")]
        ratios = [p["this"] / p["other"] for p in pairs]
        out[row] = {
            "this_rps": statistics.median(p["this"] for p in pairs) if pairs else None,
            "other_rps": statistics.median(p["other"] for p in pairs) if pairs else None,
            "ratio_median": statistics.median(ratios) if ratios else None,
            "ratios": ratios,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.ab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", type=Path, help="the checkout to compare with")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows")
    args = parser.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    if not (args.other / "bot" / "app.py").is_file() or any(r not in ROWS for r in rows):
        parser.error(f"OTHER must be a newsbot checkout and --rows among {', '.join(ROWS)}")
    workdir = Path(tempfile.mkdtemp(prefix="newsbot-ab-"))
    try:
        per_round = measure({"other": args.other.resolve(), "this": fixtures.ROOT}, rows,
                            args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {"other": str(args.other), "rounds": per_round, "rows": summary(per_round, rows)}
    for row, s in result["rows"].items():
        ratios = " ".join(f"{x:.3f}" for x in s["ratios"])
        print(f"{row:13} this {s['this_rps'] or 0:8.0f}/s  other {s['other_rps'] or 0:8.0f}/s"
              f"  this/other median {s['ratio_median'] or 0:.3f}  (rounds: {ratios})")
    out = fixtures.HERE / "results" / "ab.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
