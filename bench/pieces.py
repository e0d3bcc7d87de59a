"""``python3 -m bench.pieces``: the webhook's hand-written pieces against the library's own.

Each pair is timed alternately in this process (CPU time, the best of each round's repeats),
for ``--rounds`` rounds, on what a message carries: WeChat's query string, a text message as
WeChat writes it, its access-log line. Prints µs per call, both ways, and the median ratio of
the rounds. What the webhook keeps hand-written for speed, and why, is in docs/performance.md.

    python3 -m bench.pieces              # 5 rounds
    python3 -m bench.pieces --rounds 9
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import statistics
import time
import timeit
from collections.abc import Callable
from urllib.parse import parse_qsl

from bot import logs
from bot.callback import message_xml
from bot.envelope import _flat_fields, _parse_tree

QUERY = (b"signature=899cf89e464efb63f54ddac96b0a0a235f53aa78&timestamp=1714037059"
         b"&nonce=486452656&openid=o_bench_1")
BODY = message_xml(user="o_bench_1", account="gh_bench", text="网格员", msgid="123456",
                   create_time=1714037059).encode()
LINE = {"user": "o_bench_1", "type": "text", "msgid": "123456", "handler": "search",
        "outcome": "ok", "ms": 1.2}


def split_query(raw: bytes) -> dict[str, str]:
    """The query string split by hand (what the webhook did before ``parse_qsl``)."""
    out: dict[str, str] = {}
    for part in raw.decode("latin-1").split("&"):
        if part:
            name, _, value = part.partition("=")
            out[name] = value
    return out


def fstring_line(d: dict) -> str:
    """The access line written by an f-string (what the webhook did before ``json``)."""
    return (f'{{"user": "{d["user"]}", "type": "{d["type"]}", "msgid": "{d["msgid"]}", '
            f'"handler": "{d["handler"]}", "outcome": "{d["outcome"]}", "ms": {d["ms"]!r}}}')


def _block_logger() -> logging.Logger:
    """A logger whose lines end in a BlockHandler on a memory buffer, as a serving worker's."""
    handler = logs.BlockHandler(every=3600)
    handler.stream = io.StringIO()
    handler.setFormatter(logs._Formatter(logs.FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return logging.getLogger("newsbot.access")


def pairs() -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """name -> (hand-written, library)."""
    access = _block_logger()
    line = json.dumps(LINE, ensure_ascii=False)
    encode = json.JSONEncoder(ensure_ascii=False).encode
    return {
        "query string": (lambda: split_query(QUERY),
                         lambda: dict(parse_qsl(QUERY.decode("latin-1"), keep_blank_values=True))),
        "access line": (lambda: fstring_line(LINE), lambda: encode(LINE)),
        "read a message": (lambda: _flat_fields(BODY), lambda: _parse_tree(BODY)),
        "log the line": (lambda: logs.info(access, line), lambda: access.info(line)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.pieces", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=20_000, help="calls per timing")
    args = parser.parse_args(argv)
    for name, (hand, library) in pairs().items():
        times: dict[str, list[float]] = {"hand": [], "library": []}
        for _ in range(args.rounds):
            for label, fn in (("hand", hand), ("library", library)):
                best = min(timeit.repeat(fn, number=args.number, repeat=3, timer=time.process_time))
                times[label].append(best / args.number * 1e6)
        ratio = statistics.median(b / a for a, b in zip(times["hand"], times["library"]))
        print(f"{name:15} hand {statistics.median(times['hand']):6.2f} µs   library "
              f"{statistics.median(times['library']):6.2f} µs   library/hand {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
