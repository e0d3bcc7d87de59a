"""The 5-second budget end to end: a handler slower than the budget gets ``success`` sent to
WeChat at once, and its reply arrives later through the customer-service API (the emulator)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_services, create_app
from bot.config import load_config
from bot.emulator import Emulator
from bot.router import Router
from handlers.base import Article, Context, Message, News, Routes
from tests.conftest import Bot, LiveServer, write_config

routes = Routes()
release = threading.Event()  # lets a test decide when the slow handler finishes


@routes(keyword="慢")
def slow_text(msg: Message, ctx: Context) -> str:
    release.wait(10)
    return "想好了：这是迟到的回答"


@routes(keyword="慢图文")
def slow_news(msg: Message, ctx: Context) -> News:
    release.wait(10)
    return News([Article("迟到的报道", "摘要", "http://127.0.0.1/articles/1"),
                 Article("第二篇", "不会发出", "http://127.0.0.1/articles/2")])


@routes(keyword="快")
def fast(msg: Message, ctx: Context) -> str:
    return "马上回答"


@routes(keyword="自称很快", quick=True)
def quick_but_slow(msg: Message, ctx: Context) -> str:
    """Declared quick (run on the event loop), yet slower than the budget this once."""
    time.sleep(0.5)
    return "我以为很快"


@pytest.fixture
def live(tmp_path: Path, emulator: Emulator) -> Iterator[tuple[Emulator, Any, Any]]:
    config = load_config(write_config(tmp_path, "[server]\nreply_budget = 0.3\n"), env={})
    config.values["wechat"]["api_base_url"] = emulator.url
    services = build_services(config, router=Router(routes))
    release.clear()
    with LiveServer(create_app(services)) as srv:
        emulator.connect(f"{srv.url}/wechat")
        yield emulator, srv, config
        release.set()


def wait_for_deliveries(emu: Emulator, n: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(emu.deliveries) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return list(emu.deliveries)


def test_a_slow_text_reply_goes_out_through_the_api(live: tuple[Emulator, Any, Any]) -> None:
    emu, _, _ = live
    reply = emu.say("o_patient", "慢")
    assert reply.kind == "success"  # WeChat was answered within the budget
    assert emu.deliveries == []  # the handler is still thinking
    release.set()
    got = wait_for_deliveries(emu, 1)
    assert [(d["channel"], d["openid"], d["msgtype"], d["content"]) for d in got] == [
        ("custom", "o_patient", "text", "想好了：这是迟到的回答")]


def test_a_slow_news_reply_sends_its_first_article(live: tuple[Emulator, Any, Any]) -> None:
    emu, _, _ = live
    assert emu.say("o_reader", "慢图文", encrypt=True).kind == "success"
    release.set()
    got = wait_for_deliveries(emu, 1)
    assert len(got) == 1 and got[0]["msgtype"] == "news"
    assert got[0]["articles"] == [{"title": "迟到的报道", "description": "摘要",
                                   "url": "http://127.0.0.1/articles/1", "picurl": ""}]


def test_a_fast_reply_stays_passive(live: tuple[Emulator, Any, Any]) -> None:
    emu, _, _ = live
    reply = emu.say("o_quick", "快")
    assert (reply.kind, reply.text) == ("text", "马上回答")
    assert emu.stats().get("calls:message/custom/send", 0) == 0


def test_a_quick_handler_that_overruns_the_budget_answers_late_too(
    live: tuple[Emulator, Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    emu, _, _ = live
    with caplog.at_level(logging.WARNING, logger="newsbot.app"):
        reply = emu.say("o_loop", "自称很快")
    assert "quick handler quick_but_slow held the event loop" in caplog.text
    assert reply.kind == "success"  # past the budget: WeChat is told nothing more
    got = wait_for_deliveries(emu, 1)
    assert [(d["openid"], d["content"]) for d in got] == [("o_loop", "我以为很快")]
    # sent once, through the customer-service API
    assert emu.stats().get("calls:message/custom/send", 0) == 1


def test_a_late_reply_that_wechat_refuses_is_logged(live: tuple[Emulator, Any, Any],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    import httpx

    emu, srv, config = live
    # the message reaches the bot without passing the emulator: no window is open for this user
    with httpx.Client(base_url=srv.url, timeout=10) as http, \
            caplog.at_level(logging.INFO, logger="newsbot.access"):
        reply = Bot(http, config).send("慢", user="o_stranger")
        assert reply.kind == "success"
        release.set()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not _outcomes(caplog, "late-failed"):
            time.sleep(0.02)
    assert _outcomes(caplog, "late-failed") == ["o_stranger"]
    assert emu.deliveries == []


def _outcomes(caplog: pytest.LogCaptureFixture, outcome: str) -> list[str]:
    out = []
    for r in caplog.records:
        if r.name == "newsbot.access":
            line = json.loads(r.getMessage())
            if line["outcome"] == outcome:
                out.append(line["user"])
    return out
