"""The digest as its readers get it: pushed through the emulator, and asked for with 今日.

Each story once with a header that counts distinct stories; no story dropped (the rest counted
with the keyword that lists them, and listed by it); each line a title, the first ones a line
of summary; dated the day it goes out, an old story with its print date, never "今日" news; no
promise of a schedule that is off; 今日 as a passive reply that costs no push."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from digest_support import Rig, add_people

from bot.app import build_services
from handlers.digest import run_digest
from store import articles, subscribers
from store.articles import Article
from tests.conftest import Bot


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path, extra="[search]\npage_size = 5\n")
    yield r
    r.close()


@pytest.fixture
def reader(rig: Rig, make_bot) -> Iterator[Bot]:  # type: ignore[no-untyped-def]
    s = build_services(rig.config)
    yield make_bot(s)
    s.close()


def _save(rig: Rig, title: str, cats: list[str], published: str | None = None) -> int:
    body = [f"{title}的消息传来，社区居民纷纷点赞，党员志愿者也参与其中。居民们说，日子越过越舒心。"]
    a = Article(title=title, body=body, categories=cats, published=published)
    return articles.save(rig.store, a)[0]


def _today() -> str:
    d = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return f"{d.month}月{d.day}日"


def _titles(text: str) -> list[str]:
    return re.findall(r'<a href="[^"]*">([^<]*)</a>', text)


def test_a_story_of_both_categories_is_listed_once_and_counted_once(rig: Rig) -> None:
    both = [_save(rig, f"党员志愿者走进社区{i}号楼院", ["党建", "社区"]) for i in range(4)]
    only = [_save(rig, f"支部学习会第{i}期", ["党建"]) for i in range(4)]
    only += [_save(rig, f"楼院议事会第{i}场", ["社区"]) for i in range(4)]
    people = add_people(rig.store, rig.emu, 3)  # one of 党建, one of 社区, one of both
    run_digest(rig.store, rig.api, rig.config)
    got = {d["openid"]: d["content"] for d in rig.emu.deliveries}
    both_reader = next(o for o in people.inside if people.cats[o] == ["党建", "社区"])
    text = got[both_reader]
    titles = _titles(text)
    assert len(titles) == len(set(titles)) == len(both) + len(only) == 12
    assert "报道 12 篇" in text.splitlines()[0]
    community = next(o for o in people.inside if people.cats[o] == ["社区"])
    assert len(_titles(got[community])) == 8 and "报道 8 篇" in got[community]  # 4 both + 4


def test_stories_beyond_max_stories_are_counted_listed_and_not_lost(rig: Rig,
                                                                   reader: Bot) -> None:
    ids = [_save(rig, f"党支部开展主题党日活动第{i}场", ["党建"]) for i in range(18)]
    people = add_people(rig.store, rig.emu, 1)  # a 党建 subscriber inside the window
    report = run_digest(rig.store, rig.api, rig.config)
    assert report.stories == 18
    [text] = [d["content"] for d in rig.emu.deliveries]
    assert len(_titles(text)) == 8
    assert "…另有 10 篇党建新闻，回复“今日党建”查看全部" in text
    # the keyword lists every story of the edition, page after page, and picks work
    user = people.inside[0]
    pages = [reader.send("今日党建", user=user).text]
    while "下一页" in pages[-1]:
        pages.append(reader.send("下一页", user=user).text)
    listed = [line for p in pages for line in p.splitlines() if re.match(r"\d+\. ", line)]
    assert len(listed) == 18 and "18 篇" in pages[0].splitlines()[0]
    assert {t.split(". ", 1)[1] for t in listed} == {a.title for a in articles.many(rig.store, ids)}
    assert reader.send("18", user=user).text.startswith("【党支部开展主题党日活动第")
    # the next digest does not send them again, and they stay listable
    assert run_digest(rig.store, rig.api, rig.config).status == "empty"
    assert "18 篇" in reader.send("今日", user=user).text.splitlines()[0]


def test_lines_carry_titles_a_summary_for_the_first_and_the_print_date(rig: Rig) -> None:
    _save(rig, "柳湾区召开社区议事会", ["社区"], published="2019-06-21")
    for i in range(4):
        _save(rig, f"银杏社区养老驿站开放第{i}天", ["社区"])
    people = add_people(rig.store, rig.emu, 2)
    run_digest(rig.store, rig.api, rig.config)
    text = next(d["content"] for d in rig.emu.deliveries
                if people.cats[d["openid"]] == ["社区"])
    head = text.splitlines()[0]
    assert head.startswith(_today()) and "新收录" in head and "今日" not in head
    assert "柳湾区召开社区议事会</a>（2019年6月21日）" in text
    lines = text.splitlines()
    teasers = [lines[i + 1] for i, line in enumerate(lines) if re.match(r"\d\. <a", line)
               and not re.match(r"\d\. |【|…|\s*$", lines[i + 1])]
    assert len(teasers) == 3 and all("居民" in t for t in teasers)


def test_subscribing_promises_the_time_only_while_the_schedule_is_on(tmp_path: Path,
                                                                     make_bot) -> None:  # type: ignore[no-untyped-def]
    from bot.config import load_config
    from tests.conftest import write_config

    for on, expect in ((False, "暂停"), (True, "每天 07:30")):
        folder = tmp_path / str(on)
        folder.mkdir()
        extra = f'[digest]\nenabled = {str(on).lower()}\ntime = "07:30"\n'
        s = build_services(load_config(write_config(folder, extra), env={}))
        try:
            bot = make_bot(s)
            for asked in ("订阅", "我的订阅"):
                text = bot.send(asked, user="o_promise").text
                assert expect in text and (on or "07:30" not in text), text
        finally:
            s.close()


def test_today_is_a_passive_reply_even_outside_the_window(rig: Rig, reader: Bot) -> None:
    _save(rig, "东关街道举办党课", ["党建"])
    _save(rig, "南苑社区修好路灯", ["社区"])
    people = add_people(rig.store, rig.emu, 7)  # the fourth last spoke three days ago
    outside = people.outside[0]
    subscribers.subscribe(rig.store, outside, ["社区"])
    subscribers.unsubscribe(rig.store, outside, ["党建"])  # 社区 only
    report = run_digest(rig.store, rig.api, rig.config)
    assert report.skipped.get("out_of_window") == 1
    calls = rig.emu.stats().get("calls:message/custom/send", 0)
    for asked in ("今天有什么新闻", "今日", "今日要闻", "今日。"):
        r = reader.send(asked, user=outside)
        assert r.kind == "text" and r.text.startswith(_today()), asked
        assert "南苑社区修好路灯" in r.text and "东关街道举办党课" not in r.text  # their categories
    assert "东关街道举办党课" in reader.send("今日党建", user=outside).text
    stranger = reader.send("今日", user="o_not_subscribed").text
    assert "南苑社区修好路灯" in stranger and "东关街道举办党课" in stranger  # all categories
    assert rig.emu.stats().get("calls:message/custom/send", 0) == calls  # no push spent


def test_today_with_nothing_new_says_so(reader: Bot) -> None:
    r = reader.send("今日", user="o_early")
    assert "还没有新收录" in r.text and "最新" in r.text
