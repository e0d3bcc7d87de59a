"""``#推送预览`` / ``#推送`` + ``#确认``: the digest on an admin's demand, against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from digest_support import Rig, add_people, add_stories, delivered

from bot.app import build_services
from bot.callback import message_xml, sign_request
from store.audit import entries
from tests.conftest import Bot

ADMIN = "o_admin_editor"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path, extra=f'[admin]\nopenids = ["{ADMIN}"]\n[server]\nreply_budget = 30.0\n')
    yield r
    r.close()


@pytest.fixture
def abot(rig: Rig, make_bot) -> Bot:  # type: ignore[no-untyped-def]
    return make_bot(build_services(rig.config))


def say(bot: Bot, text: str, user: str = ADMIN) -> str:
    r = bot.send(text, user=user)
    assert r.status == 200 and r.kind == "text", r.raw
    return r.text


def test_preview_then_push_after_confirmation(rig: Rig, abot: Bot) -> None:
    add_stories(rig.store, 2)
    people = add_people(rig.store, rig.emu, 12)

    preview = say(abot, "#推送预览")
    assert "新闻 4 篇" in preview and f"将发送 {len(people.inside)}" in preview
    assert "内容示例" in preview
    prompt = say(abot, "#推送")
    assert f"将发送 {len(people.inside)}" in prompt and "确认推送新闻摘要？" in prompt
    assert delivered(rig.emu) == {}  # nothing goes out before #确认

    w = rig.config.wechat
    req = sign_request(message_xml(user=ADMIN, text="#确认"), w["token"])
    first = abot.http.post("/wechat", params=req.params, content=req.body)
    assert "推送完成" in first.text and f"发送 {len(people.inside)}/" in first.text
    assert set(delivered(rig.emu)) == set(people.inside)
    assert set(delivered(rig.emu).values()) == {1}
    # the captured confirmation replayed: same answer, nobody gets a second copy
    second = abot.http.post("/wechat", params=req.params, content=req.body)
    assert second.text == first.text and set(delivered(rig.emu).values()) == {1}

    e = entries(rig.store)[0]
    assert (e.admin, e.action) == (ADMIN, "push")
    assert e.after["status"] == "done" and e.after["sent"] == len(people.inside)
    assert "没有新闻" in say(abot, "#推送")  # nothing new: no confirmation asked
    assert "没有待确认的操作" in say(abot, "#确认")
    assert "尚未推送过" not in say(abot, "#统计")


def test_push_can_be_cancelled(rig: Rig, abot: Bot) -> None:
    add_stories(rig.store, 1)
    add_people(rig.store, rig.emu, 3)
    say(abot, "#推送")
    assert "已取消待确认的操作：推送新闻摘要" in say(abot, "#取消")
    assert "没有待确认的操作" in say(abot, "#确认")
    assert delivered(rig.emu) == {} and entries(rig.store) == []


def test_a_reader_cannot_push(rig: Rig, abot: Bot) -> None:
    add_stories(rig.store, 1)
    add_people(rig.store, rig.emu, 3)
    for text in ("#推送", "#确认", "#推送预览"):
        reply = say(abot, text, user="o_reader_1")
        assert "将发送" not in reply and "推送完成" not in reply
    assert delivered(rig.emu) == {} and entries(rig.store) == []
