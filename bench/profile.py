"""``python3 -m bench.profile``: where a newsbot worker spends its time under the bench's load.

Starts ``newsbot serve`` on the seed store, replays plain-mode searches at it with wrk (as the
main bench does) and samples the worker with py-spy (``pip install py-spy``; it needs ptrace).
Only samples of the thread holding the GIL are kept: that is the worker's CPU. Prints the
functions with the most samples, inclusive and self, and keeps the raw stacks (--raw).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import fixtures, load, runs
from bench.procs import Server, free_port


def summarise(raw: Path, top: int) -> str:
    total = 0
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        total += int(n)
        own[frames[-1]] += int(n)
        for f in set(frames):
            incl[f] += int(n)
    out = [f"{total} samples"]
    for title, counts in (("inclusive", incl), ("self", own)):
        out.append(f"-- {title}")
        out += [f"{n / total:6.1%}  {f}" for f, n in counts.most_common(top)]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(prog="python3 -m bench.profile", description=__doc__)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--words", help="comma-separated messages to send (default: the keyword list)")
    ap.add_argument("--store", type=Path, help="serve this store instead of the seed store")
    ap.add_argument("--raw", type=Path, help="keep py-spy's raw stacks here")
    ap.add_argument("--wall", action="store_true",
                    help="every thread's wall time, idle included, per thread (where it waits)")
    ap.add_argument("--safe", action="store_true",
                    help="safe-mode (AES) messages instead of plain ones (the keyword list)")
    ap.add_argument("--native", action="store_true",
                    help="include C frames (SQLite, the event loop) in the stacks")
    args = ap.parse_args()
    if not shutil.which("py-spy"):
        sys.exit("py-spy is not installed: python3 -m pip install py-spy")
    workdir = Path(tempfile.mkdtemp(prefix="newsbot-profile-"))
    try:
        store = args.store
        if store is None:
            store = workdir / "seed.db"
            fixtures.seed_store(store)
        cfg = fixtures.write_config(workdir, "profile", store)
        port = free_port()
        raw = args.raw or workdir / "stacks.txt"
        with Server("newsbot", fixtures.newsbot_argv(cfg, port), port,
                    log=workdir / "newsbot.log") as srv:
            srv.wait_ready()
            runs.probe(srv, load.KEYWORDS)  # first search loads jieba: keep it out of the profile
            spy = subprocess.Popen(
                ["py-spy", "record", "-p", str(srv.worker_pid()),
                 *(["--threads", "--idle"] if args.wall else ["--gil"]), *(["--native"] if args.native else []), "-r", "200",
                 "-d", f"{args.seconds + 1:.0f}", "-f", "raw", "-o", str(raw)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            time.sleep(0.5)
            words = args.words.split(",") if args.words else load.KEYWORDS
            if args.safe:
                count = int(args.seconds * 4000)  # more than the run can send: none repeats
                m = load.safe_material(workdir, fixtures.ACCOUNT, count, runs.next_base(), "safe")
            else:
                m = load.plain_material(workdir, fixtures.ACCOUNT, "<xml>", runs.next_base(),
                                        words)
            r = load.run(srv, m, duration=args.seconds, workdir=workdir)
            _, err = spy.communicate()
        print(f"{r['rps']:,.0f} req/s under the profiler, p50 {r['p50_us'] / 1000:.1f} ms, "
              f"p99 {r['p99_us'] / 1000:.1f} ms")
        if not raw.exists():
            sys.exit(f"py-spy wrote nothing: {err.decode()[-500:]}")
        print(summarise(raw, args.top))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
