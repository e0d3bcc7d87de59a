"""Messages answered on the event loop are settled together: the group commit of the webhook.

The ASGI app is called directly here, so the test decides which messages are in flight in
the same turn of the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_services, create_app
from bot.callback import message_xml, read_reply, sign_request
from bot.config import Config
from bot.router import Router
from bot.state import StateUnavailable
from bot.state.sqlite import SQLiteState
from handlers.base import FALLBACK_TEXT, Context, Message, Routes

routes = Routes()
during: list[Any] = []  # what the "meanwhile" handler does while it runs


@routes(keyword="早", quick=True)
def morning(msg: Message, ctx: Context) -> str:
    ctx.state.set(f"seen:{msg.source}", "1")
    return f"早上好 {msg.source}"


@routes(keyword="同时", quick=True)
def meanwhile(msg: Message, ctx: Context) -> str:
    for step in during:
        step(msg)
    ctx.state.set("meanwhile", "mine")
    return "我的回答"


@routes(keyword="坏", quick=True)
def spoiled(msg: Message, ctx: Context) -> str:
    ctx.state.set(f"seen:{msg.source}", "\ud800")  # text the state cannot store
    return "已记下"


runs: list[int] = []


noted: list[str] = []  # side effects that waited for the claim (Context.once_ours)


@routes(keyword="几次", quick=True)
def count_runs(msg: Message, ctx: Context) -> str:
    runs.append(1)
    ctx.once_ours(noted.append, f"run {len(runs)}")
    ctx.state.set("last_run", str(len(runs)))
    return f"第 {len(runs)} 次"


class _Counting(SQLiteState):
    def __init__(self, path: Path, down: bool = False) -> None:
        super().__init__(path)
        self.groups: list[list[str]] = []
        self.down = down

    def settle_many(self, items):  # type: ignore[no-untyped-def]
        self.groups.append([item[0] for item in items])
        if self.down:
            raise StateUnavailable("state file locked away")
        return super().settle_many(items)


def _call(config: Config, user: str, text: str, msgid: str) -> tuple[Any, ...]:
    """An ASGI call of one signed message: (scope, receive, send, what was sent)."""
    xml = message_xml(user=user, text=text, msgid=msgid)
    req = sign_request(xml, config.wechat["token"])
    scope = {
        "type": "http", "method": "POST", "path": "/wechat", "root_path": "",
        "query_string": "&".join(f"{k}={v}" for k, v in req.params.items()).encode(),
        "headers": [(b"content-type", b"text/xml")],
    }
    got: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": req.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        got.update(message)

    return scope, receive, send, got


def _run(app: Any, config: Config, messages: list[tuple[str, str, str]]) -> list[tuple[int, str]]:
    """Post ``messages`` (user, text, msgid) at once, on one event loop; their replies."""
    calls = [_call(config, *m) for m in messages]

    async def all_at_once() -> None:
        await asyncio.gather(*(app(scope, rcv, snd) for scope, rcv, snd, _ in calls))

    asyncio.run(all_at_once())
    return [(got["status"], got["body"].decode()) for *_, got in calls]


@pytest.fixture
def counted(config: Config, tmp_path: Path):  # type: ignore[no-untyped-def]
    state = _Counting(tmp_path / "counted.db")
    services = build_services(config, state=state, router=Router(routes))
    during.clear()
    yield services, state
    services.close()


def test_messages_in_flight_together_are_settled_in_one_step(counted, config: Config) -> None:  # type: ignore[no-untyped-def]
    services, state = counted
    app = create_app(services)
    users = [f"o_group_{i}" for i in range(8)]
    replies = _run(app, config, [(u, "早", str(100 + i)) for i, u in enumerate(users)])
    # one settle_many for the eight, each reply its own user's
    assert state.groups == [[f"msg:{100 + i:020d}:{u}" for i, u in enumerate(users)]]
    for u, (status, body) in zip(users, replies):
        assert status == 200
        assert read_reply(status, body, config.wechat["token"]).text == f"早上好 {u}"
        assert state.get(f"seen:{u}") == "1"  # each one's writes went in with it
    # and each answer is kept for WeChat's retries: a retry is answered from it, unsettled
    again = _run(app, config, [(users[3], "早", "103")])
    assert again == [replies[3]]
    assert len(state.groups) == 1


def test_a_message_claimed_elsewhere_meanwhile_keeps_that_answer(counted, config: Config) -> None:  # type: ignore[no-untyped-def]
    services, state = counted
    other = SQLiteState(state.path)  # another worker of the same host

    def another_worker_takes_it(msg: Message) -> None:
        key = msg.dedup_key
        assert other.claim(key, lease=30).status.value == "owner"
        threading.Timer(0.2, other.finish, (key, "<xml>their answer</xml>", 60)).start()

    during.append(another_worker_takes_it)
    try:
        [(status, body)] = _run(create_app(services), config, [("o_twice", "同时", "55")])
    finally:
        other.close()
    assert (status, body) == (200, "<xml>their answer</xml>")
    assert state.get("meanwhile") is None  # this handler's changes were dropped


def test_settling_with_the_state_down_still_answers(
    config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = _Counting(tmp_path / "down.db", down=True)
    services = build_services(config, state=state, router=Router(routes))
    try:
        with caplog.at_level(logging.WARNING, logger="newsbot.app"):
            [(status, body)] = _run(create_app(services), config, [("o_down", "早", "9")])
    finally:
        services.close()
    assert status == 200
    assert read_reply(status, body, config.wechat["token"]).text == "早上好 o_down"
    assert "without dedup" in caplog.text and f"msg:{9:020d}:o_down" in caplog.text


def test_a_retry_at_another_worker_gets_the_kept_answer(counted, config: Config) -> None:  # type: ignore[no-untyped-def]
    services, state = counted
    runs.clear()
    noted.clear()
    app = create_app(services)
    first = _run(app, config, [("o_retry", "几次", "31")])
    other = build_services(config, state=SQLiteState(state.path), router=Router(routes))
    try:  # another worker, which has not seen the message: it runs the handler, but the
        # claim kept by the first decides the answer, and the second run's changes are dropped
        again = _run(create_app(other), config, [("o_retry", "几次", "31")])
    finally:
        other.close()
    assert again == first and "第 1 次" in first[0][1]
    assert len(runs) == 2 and state.get("last_run") == "1"
    assert noted == ["run 1"]  # the second run's side effects were dropped with its claim
    # the worker that settled it answers a retry from the kept answer without running it
    assert _run(app, config, [("o_retry", "几次", "31")]) == first
    assert len(runs) == 2


def test_one_message_whose_changes_cannot_be_stored_spoils_only_its_own_reply(
    counted, config: Config, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    services, state = counted
    app = create_app(services)
    messages = [("o_ok_1", "早", "71"), ("o_bad", "坏", "72"), ("o_ok_2", "早", "73")]
    with caplog.at_level(logging.ERROR, logger="newsbot.app"):
        replies = _run(app, config, messages)
    assert len(state.groups[0]) == 3  # they were settled together
    texts = [read_reply(status, body, config.wechat["token"]).text for status, body in replies]
    assert texts == ["早上好 o_ok_1", FALLBACK_TEXT, "早上好 o_ok_2"]
    assert (state.get("seen:o_ok_1"), state.get("seen:o_ok_2")) == ("1", "1")
    assert state.get("seen:o_bad") is None
    assert state.answer(f"msg:{72:020d}:o_bad") is None  # a retry is handled afresh
    assert "not kept" in caplog.text and "user=o_bad" in caplog.text


class _Short(SQLiteState):
    def settle_many(self, items):  # type: ignore[no-untyped-def]
        return super().settle_many(items)[:-1]  # breaks the contract: one claim short


def test_a_backend_that_answers_short_leaves_no_message_hanging(
    config: Config, tmp_path: Path
) -> None:
    services = build_services(config, state=_Short(tmp_path / "short.db"), router=Router(routes))
    try:
        replies = _run(create_app(services), config, [("o_s1", "早", "81"), ("o_s2", "早", "82")])
    finally:
        services.close()
    texts = [read_reply(status, body, config.wechat["token"]).text for status, body in replies]
    assert texts == [FALLBACK_TEXT, FALLBACK_TEXT]
