"""Keyword-rule matching benchmark: what the console's rules add to routing one message.

    python3 bench/rules_bench.py [--rules 300] [--repeat 20000] [--json]

Builds a store holding ``--rules`` keyword rules (two thirds full-match, one third partial,
written for this bench), then times ``Router.find`` for a text a full-match rule answers, a
text a partial rule answers, and a text no rule answers (it goes on to the search), each
against the same router over a store without rules measured in the same run (the baseline).
Reports microseconds per message and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import load_config
from bot.router import build_router
from bot.state import open_state
from handlers.base import Context, Message, Shared
from handlers.rules import RuleCache
from store import rules as store_rules
from store.db import open_store
from store.rules import Keyword, Rule

TEXTS = {"full match": "便民服务事项二九九", "partial match": "请问社区事务九十九怎么办理",
         "no rule (to search)": "花园口网格员"}


def _fill(store: Any, n: int) -> None:
    for i in range(n):
        contain = i % 3 == 2
        word = f"社区事务{i}" if contain else f"便民服务事项{i}"
        store_rules.add(store, Rule(kind="keyword", keywords=[Keyword(word, "contain" if contain
                                                                      else "equal")],
                                    replies=[{"type": "text", "content": f"答复{i}"}]), "bench")


def _time(router: Any, ctx: Context, text: str, repeat: int) -> float:
    msg = Message(type="text", source="o_bench", target="gh_bench", create_time=0, id="1",
                  content=text)
    router.find(msg, ctx)  # warm: the rules are compiled once per generation
    start = time.perf_counter()
    for _ in range(repeat):
        router.find(msg, ctx)
    return (time.perf_counter() - start) / repeat * 1e6


def run(rules: int = 300, repeat: int = 20000) -> dict[str, Any]:
    out: dict[str, Any] = {"rules": rules, "repeat": repeat, "us_per_message": {}}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(None, env={"NEWSBOT_STATE_PATH": f"{tmp}/state.db"})
        state = open_state(cfg)
        router = build_router()
        stores = {"baseline": open_store(f"{tmp}/plain.db"), "rules": open_store(f"{tmp}/r.db")}
        _fill(stores["rules"], rules)
        # the texts are named for rules 299 and 99: with fewer rules, pick ones that exist
        texts = {k: v.replace("二九九", str(rules - 1 - (rules - 1) % 3))
                 .replace("九十九", str(rules - 1 - (rules - 3) % 3)) for k, v in TEXTS.items()}
        for label, text in texts.items():
            row = {}
            for name, store in stores.items():
                ctx = Context(user="o_bench", is_admin=False, config=cfg, state=state,
                              store=store,
                              shared=Shared(is_admin=lambda o: False, rules=RuleCache()))
                row[name] = _time(router, ctx, text, repeat)
            row["ratio"] = row["rules"] / row["baseline"]
            out["us_per_message"][label] = row
        for s in stores.values():
            s.close()
        state.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rules", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=20000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    got = run(a.rules, a.repeat)
    if a.json:
        print(json.dumps(got, ensure_ascii=False, indent=2))
        return
    print(f"{got['rules']} rules, {got['repeat']} finds each; microseconds per message")
    print(f"{'text':<22}{'no rules':>10}{'rules':>10}{'ratio':>8}")
    for label, row in got["us_per_message"].items():
        print(f"{label:<22}{row['baseline']:>10.1f}{row['rules']:>10.1f}{row['ratio']:>8.2f}")


if __name__ == "__main__":
    main()
