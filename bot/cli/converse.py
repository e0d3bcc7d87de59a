"""``newsbot converse``: a reader's conversation with the bot, every reply printed.

It plays one reader sending typical messages, signed as WeChat signs them, and prints each
message and the reply in order, so the whole conversation reads at a glance. By default the
bot runs here, on a loopback port, over a fresh temporary store holding the shipped sample
pages (and the pages ``--pages`` names); ``--url`` talks to a running bot instead.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import httpx

from bot.callback import BotReply, message_xml, post
from bot.cli import CliState, main

# What a reader typically sends: search, forgiving search, picks and paging, today's news,
# subscriptions, small talk. One message a line; ``#`` starts a comment.
TYPICAL = """
你好
今天有什么新闻
下一页。
1
今日党建
养老
2。
第二页！
网格员
我想看一下唐红梅书记的事迹。
韩立心
社區養老
黨建
有没有关于量子计算机的报道？
1
  订阅 党建
我的订阅
最新社区
帮助
谢谢
"""


def messages(text: str) -> list[str]:
    """The messages of a list: one a line, blank lines and ``#`` comments left out."""
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            out.append(line.rstrip("\n"))
    return out


@contextmanager
def _local_bot(obj: CliState, pages: tuple[Path, ...]) -> Iterator[str]:
    """A bot on a free loopback port over a temporary store of the sample pages."""
    import logging
    import socket

    import uvicorn

    from bot.app import build_services, create_app
    from store.ingest import import_text
    from store.samples import sample_pages

    cfg = obj.config
    news = logging.getLogger("newsbot")
    if news.getEffectiveLevel() == logging.INFO:  # (not under -v) the conversation, not the log
        news.setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="newsbot-converse-") as tmp:
        cfg.values["store"]["path"] = str(Path(tmp) / "store.db")
        cfg.values["state"].update(backend="sqlite", path=str(Path(tmp) / "state.db"))
        cfg.values["wechat"]["api_base_url"] = "http://127.0.0.1:9"  # nothing goes out
        services = build_services(cfg)
        try:
            for name, text in sample_pages():
                import_text(services.store, text, f"samples/{name}")
            for page in pages:
                import_text(services.store, page.read_text(encoding="utf-8"), page.name)
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1",
                                                   port=port, log_level="warning"))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            deadline = time.monotonic() + 30
            while not server.started and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not server.started:
                raise click.ClickException("the bot did not start on a loopback port")
            try:
                yield f"http://127.0.0.1:{port}/wechat"
            finally:
                server.should_exit = True
                thread.join(timeout=10)
        finally:
            services.close()


def _show(said: str, reply: BotReply) -> str:
    answer = reply.render() if reply.kind != "success" else "（不回复）"
    body = "\n".join("    " + line if line else "" for line in answer.splitlines())
    return f"读者 > {said}\n{body}\n"


def _pages(paths: tuple[str, ...]) -> tuple[Path, ...]:
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(x for x in p.glob("*.txt") if x.name.lower() != "readme.txt")
        elif p.is_file():
            found.append(p)
        else:
            raise click.BadParameter(f"{p}: no such file or folder", param_hint="'--pages'")
    return tuple(found)


@main.command()
@click.argument("messages_file", type=click.File("r", encoding="utf-8"), required=False)
@click.option("--pages", "page_paths", multiple=True, metavar="PATH",
              help="Also import these page files (or every .txt of a folder) first.")
@click.option("--url", help="Talk to a running bot at this callback URL instead.")
@click.option("--user", default="o_reader_check", show_default=True, help="The reader's openid.")
@click.pass_obj
def converse(obj: CliState, messages_file: Any, page_paths: tuple[str, ...], url: str | None,
             user: str) -> None:
    """Send a reader's typical messages to the bot and print every reply in order.

    Without --url the bot runs here over a temporary store of the sample pages (your store
    is not touched). MESSAGES_FILE holds one message a line (- reads standard input).

    \b
    Example:
      newsbot converse
      newsbot converse --pages ../shared/corpus
      newsbot converse my-messages.txt --url http://127.0.0.1:8080/wechat
    """
    said = messages(messages_file.read() if messages_file else TYPICAL)
    if not said:
        raise click.UsageError("no messages to send: the file holds none")
    if url is not None:
        from store.webfetch import is_web_address

        if not is_web_address(url):
            raise click.BadParameter(f"{url!r} is not a web address", param_hint="'--url'")
    pages = _pages(page_paths)
    w = obj.config.wechat
    with (_local_bot(obj, pages) if url is None else _given(url)) as target, \
            httpx.Client(timeout=30) as client:
        for text in said:
            try:
                reply = post(target, message_xml(user=user, text=text), w["token"],
                             appid=w["appid"], aes_key=w["encoding_aes_key"], client=client)
            except httpx.HTTPError as e:
                raise click.ClickException(f"cannot reach the bot at {target}: {e}") from None
            click.echo(_show(text, reply))


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url
