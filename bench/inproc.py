"""``python3 -m bench.inproc``: what a message costs the app itself, without sockets.

Builds the app as ``newsbot serve`` does, on the seed store (the bench's), and calls its ASGI
entry directly with signed messages: ``--concurrency`` lanes at once on one event loop (32,
as the load bench's connections), so the group commit sees what it sees under load. Prints
the wall and CPU time per message, and with ``--phases`` the time inside the envelope, the
handler, the group's state transaction, sealing, and the two reads the hot path may make.
Nothing here is a test: it is for finding where the time goes (``bench.profile`` samples a
real server under wrk).

    python3 -m bench.inproc                    # searches, plain mode
    python3 -m bench.inproc --safe --phases    # safe mode, with the phases
    python3 -m bench.inproc --words 帮助        # the help text
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import fixtures, load


def _timed(owner: Any, name: str, spent: collections.Counter[str], label: str = "") -> None:
    """Wrap ``owner.name`` so the time inside it adds up in ``spent[label or name]``."""
    inner = getattr(owner, name)
    label = label or name

    @functools.wraps(inner)
    def wrapper(*args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return inner(*args, **kw)
        finally:
            spent[label] += time.perf_counter() - t

    setattr(owner, name, wrapper)


def _phases(spent: collections.Counter[str]) -> None:
    import bot.envelope
    import bot.gate
    import bot.router
    import bot.state.sqlite
    import bot.webhook
    import store.articles

    _timed(bot.envelope.Envelope, "open", spent)
    _timed(bot.envelope.Envelope, "seal", spent)
    _timed(bot.gate._BindGroup, "_run", spent, "nonce-memory")  # the group of binds
    _timed(bot.router.Router, "dispatch", spent)
    _timed(bot.webhook.SettleGroup, "_run", spent, "settle")  # the group commit
    _timed(bot.state.sqlite.SQLiteState, "answer", spent, "kept-answer")
    _timed(store.articles, "generation", spent)


def _requests(words: list[str], count: int, first: int, safe: bool) -> list[tuple[bytes, bytes]]:
    """``count`` signed requests (query string, body), MsgIds from ``first``."""
    from bot.callback import message_xml, sign_request

    ts = int(time.time())
    out = []
    for n in range(first, first + count):
        xml = message_xml(user=f"o_bench_{n % 997}", account="gh_bench",
                          text=words[n % len(words)], msgid=str(n), create_time=ts)
        acct = fixtures.ACCOUNT
        req = sign_request(xml, acct.token, appid=acct.appid, aes_key=acct.aes_key,
                           encrypt=safe, timestamp=ts)
        out.append((urlencode(req.params).encode(), req.body))
    return out


async def _drive(app: Any, requests: list[tuple[bytes, bytes]], lanes: int) -> list[bytes]:
    replies: list[bytes] = []

    async def one(query: bytes, body: bytes) -> None:
        scope = {"type": "http", "method": "POST", "path": "/wechat", "root_path": "",
                 "query_string": query, "headers": [(b"content-type", b"text/xml")]}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                replies.append(message["body"])

        await app(scope, receive, send)

    async def lane(k: int) -> None:
        for query, body in requests[k::lanes]:
            await one(query, body)

    await asyncio.gather(*(lane(k) for k in range(lanes)))
    return replies


async def _lifespan(app: Any, run: Callable[[], Any]) -> Any:
    """Run ``run()`` between the app's start-up and shut-down, as uvicorn would."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    await outbox.get()
    try:
        return await run()
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await task


def main() -> int:
    ap = argparse.ArgumentParser(prog="python3 -m bench.inproc", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=20_000, help="measured messages")
    ap.add_argument("--concurrency", type=int, default=32, help="messages in flight at once")
    ap.add_argument("--words", help="comma-separated texts to send (default: the keywords)")
    ap.add_argument("--safe", action="store_true", help="safe-mode (AES) messages")
    ap.add_argument("--phases", action="store_true", help="time the hot path's parts too")
    args = ap.parse_args()
    if args.messages < 1 or args.concurrency < 1:
        ap.error("--messages and --concurrency must be at least 1")

    from bot.app import build_services, create_app
    from bot.config import load_config

    workdir = Path(tempfile.mkdtemp(prefix="newsbot-inproc-"))
    store = workdir / "seed.db"
    fixtures.seed_store(store)
    config = load_config(fixtures.write_config(workdir, "inproc", store), env={})
    spent: collections.Counter[str] = collections.Counter()
    app = create_app(build_services(config))
    words = args.words.split(",") if args.words else load.KEYWORDS
    print(f"preparing {args.messages:,} {'safe-mode' if args.safe else 'plain'} messages…",
          flush=True)
    warm = _requests(words, 2_000, 1, args.safe)
    measured = _requests(words, args.messages, 10_000_000, args.safe)
    if args.phases:
        _phases(spent)

    async def run() -> tuple[float, float, list[bytes]]:
        await _drive(app, warm, args.concurrency)  # caches filled, jieba loaded
        spent.clear()
        c0, t0 = time.process_time(), time.perf_counter()
        replies = await _drive(app, measured, args.concurrency)
        return time.perf_counter() - t0, time.process_time() - c0, replies

    wall, cpu, replies = asyncio.run(_lifespan(app, run))
    n = len(measured)
    bad = sum(1 for r in replies if not r.startswith(b"<xml>"))
    print(f"{n:,} messages, {args.concurrency} at once: {wall / n * 1e6:.1f} µs wall, "
          f"{cpu / n * 1e6:.1f} µs CPU per message ({n / wall:,.0f} a second); "
          f"{bad} answers without a reply")
    for name, seconds in spent.most_common():
        print(f"  {name:12s} {seconds / n * 1e6:6.1f} µs per message")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
