"""Import benchmark: how long the webhook's messages wait while a large import runs.

    python3 bench/import_bench.py [--files 300] [--per-file 10] [--json]

One ``newsbot serve`` answers a reader's searches, a subscription and an admin's ``#改标题``
in a loop, one message at a time, three times over: with the store idle (the baseline),
while ``newsbot import`` saves ``files`` × ``per-file`` new stories (one transaction per file),
and while the same stories are saved the way imports used to save them (every file in one
transaction). Reported per phase: each kind's p50 / p95 / max wait in ms, their ratios to the
idle baseline, and the answers that were not the command's own (``系统开小差``, or a late
``success`` because the reply budget ran out). ``run()`` returns the figures as a dict.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fixtures import ACCOUNT, seed_store, write_config
from bench.procs import Server, free_port

ADMIN = "o_bench_admin"
NEWSBOT = [sys.executable, "-c", "from bot.cli import main; main()"]
# The old way, for comparison: read every file, then save all their stories in one transaction.
ONE_TRANSACTION = """
import sys
from store.db import open_store
from store.ingest import load_file, save_all
from pathlib import Path
files = sorted(Path(sys.argv[2]).glob("*.jsonl"))
save_all(open_store(sys.argv[1]), [a for f in files for a in load_file(f)])
"""


def write_files(folder: Path, files: int, per_file: int) -> int:
    """``files`` exports of ``per_file`` stories each, made from the shipped sample pages with
    a numbered title and paragraph, so that every story is new to the store."""
    from store.ingest import load_file

    samples = [a for p in sorted((ROOT / "store/data/samples").glob("*.txt"))
               for a in load_file(p)]
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for i in range(files):
        lines = []
        for j in range(per_file):
            a = samples[n % len(samples)]
            n += 1
            lines.append(json.dumps({
                "title": f"{a.title}（{i}-{j}）", "source": f"bench-{i:04d}.txt",
                "body": [*a.body, f"本文是第 {i} 版第 {j} 篇。"],
            }, ensure_ascii=False))
        (folder / f"page-{i:04d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return n


class Talker:
    """One user at a time messaging the bot; each message's wait and whether it was answered."""

    def __init__(self, url: str) -> None:
        import httpx

        self.url = url
        self.http = httpx.Client(timeout=30)
        self.waits: dict[str, list[float]] = {"search": [], "subscribe": [], "edit": []}
        self.bad: dict[str, int] = dict.fromkeys(self.waits, 0)
        self.n = 0

    def send(self, kind: str, user: str, text: str, expect: str) -> None:
        from bot.callback import message_xml, read_reply, sign_request

        self.n += 1
        xml = message_xml(user=user, text=text, msgid=str(7_000_000 + self.n))
        req = sign_request(xml, ACCOUNT.token, appid=ACCOUNT.appid, aes_key=ACCOUNT.aes_key)
        t = time.perf_counter()
        r = self.http.post(f"{self.url}/wechat", params=req.params, content=req.body)
        self.waits[kind].append(time.perf_counter() - t)
        reply = read_reply(r.status_code, r.text, ACCOUNT.token, ACCOUNT.appid, ACCOUNT.aes_key)
        if reply.kind == "success" or expect not in reply.render():
            self.bad[kind] += 1

    def round(self, story_id: int) -> None:
        self.send("search", f"o_reader_{self.n % 50}", "网格员", "网格")
        self.send("subscribe", f"o_reader_{self.n % 50}", "订阅 社区", "社区")
        self.send("edit", ADMIN, f"#改标题 {story_id} 社区新闻 {self.n}", str(story_id))

    def figures(self, since: dict[str, int]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind, waits in self.waits.items():
            w = sorted(waits[since[kind]:])
            if not w:
                continue
            out[kind] = {
                "n": len(w), "p50_ms": round(1000 * statistics.median(w), 1),
                "p95_ms": round(1000 * w[int(0.95 * (len(w) - 1))], 1),
                "max_ms": round(1000 * w[-1], 1),
            }
        return out

    def mark(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.waits.items()}


def _phase(talker: Talker, story_id: int, argv: list[str] | None, seconds: float) -> dict:
    """Talk while ``argv`` runs (or for ``seconds`` when there is none)."""
    since, bad = talker.mark(), dict(talker.bad)
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}) \
        if argv else None
    while (proc.poll() is None) if proc else (time.perf_counter() - started < seconds):
        talker.round(story_id)
    took = time.perf_counter() - started
    if proc is not None and proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} failed: {proc.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
    return {"seconds": round(took, 1), "waits": talker.figures(since),
            "not_answered": {k: talker.bad[k] - bad[k] for k in bad}}


def run(files: int = 300, per_file: int = 10) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="newsbot-import-bench-"))
    try:
        pages = work / "pages"
        stories = write_files(pages, files, per_file)
        store_path = work / "news.db"
        seed_store(store_path)
        clean = work / "clean.db"
        shutil.copy(store_path, clean)
        cfg = write_config(work, "bot", store_path)
        cfg.write_text(cfg.read_text() + f'\n[admin]\nopenids = ["{ADMIN}"]\n', encoding="utf-8")
        port = free_port()
        argv = [*NEWSBOT, "--config", str(cfg), "serve", "--port", str(port)]
        with Server("bot", argv, port, log=work / "bot.log", cwd=ROOT,
                    env={"PYTHONPATH": str(ROOT)}) as bot:
            bot.wait_ready()
            talker = Talker(bot.url)
            for _ in range(3):
                talker.round(1)  # warm: jieba, the search lists
            idle = _phase(talker, 1, None, 10.0)
            per_file_run = _phase(talker, 1, [*NEWSBOT, "--config", str(cfg), "import",
                                               str(pages)], 0)
        # the old way on a fresh copy of the store, with the same server over it
        shutil.copy(clean, store_path)
        for suffix in ("-wal", "-shm"):
            Path(str(store_path) + suffix).unlink(missing_ok=True)
        with Server("bot", argv, port, log=work / "bot2.log", cwd=ROOT,
                    env={"PYTHONPATH": str(ROOT)}) as bot:
            bot.wait_ready()
            talker = Talker(bot.url)
            for _ in range(3):
                talker.round(1)
            whole = _phase(talker, 1, [sys.executable, "-c", ONE_TRANSACTION, str(store_path),
                                       str(pages)], 0)
        return {"stories": stories, "files": files, "idle": idle,
                "import_per_file": per_file_run, "import_one_transaction": whole,
                "ratios_p95": {
                    k: {m: round(r["waits"][k]["p95_ms"] / idle["waits"][k]["p95_ms"], 1)
                        for m, r in (("per_file", per_file_run), ("one_transaction", whole))
                        if k in r["waits"]}
                    for k in idle["waits"]
                }}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--per-file", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    r = run(a.files, a.per_file)
    if a.json:
        print(json.dumps(r, ensure_ascii=False, indent=2))
        return
    print(f"{r['stories']} stories in {r['files']} files")
    for name in ("idle", "import_per_file", "import_one_transaction"):
        ph = r[name]
        print(f"{name}: {ph['seconds']} s, not answered {ph['not_answered']}")
        for kind, f in ph["waits"].items():
            print(f"  {kind:9} n={f['n']:4} p50 {f['p50_ms']:7.1f} ms  p95 {f['p95_ms']:7.1f} ms"
                  f"  max {f['max_ms']:7.1f} ms")
    print("p95 / idle p95:", json.dumps(r["ratios_p95"]))


if __name__ == "__main__":
    main()
