"""Search that forgives, at the webhook: traditional characters, a name typed with a
same-sounding character, the punctuation and spaces people type, a miss that keeps the list,
and a question that finds nothing answered about its subject."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_services
from bot.config import load_config
from store import articles, subscribers
from store.articles import Article
from tests.conftest import Bot, write_config

# Stories written for these tests.
STORIES = [
    ("郭龙生：用心做好每件民生实事", ("永兴屯村党支部书记郭龙生带领党员疏通边沟，村里的路好走了。"
                                  "郭龙生说，群众的事再小也要办好。")),
    ("永兴屯村建起停车场", ("永兴屯村把荒废鱼塘改成停车场，村集体每年增收三万余元。"
                          "村党支部书记郭龙生说，停车场方便了群众。")),
] + [
    (f"银杏社区养老驿站第{n}期开放日", f"银杏社区养老驿站第{n}期开放日，老人们体验理疗和助餐服务。")
    for n in "一二三四五六七"
] + [
    ("東關街道黨建聯盟成立", "東關街道成立黨建聯盟，駐區單位與社區結對共建，服務居民。"),
]


@pytest.fixture
def talk(tmp_path: Path, make_bot) -> Iterator[tuple[Bot, Any]]:  # type: ignore[no-untyped-def]
    s = build_services(load_config(write_config(tmp_path, "[search]\npage_size = 3\n"), env={}))
    for title, text in STORIES:
        articles.save(s.store, Article(title=title, body=[text], source="测试晚报"))
    yield make_bot(s), s
    s.close()


def _listed(text: str) -> list[str]:
    return [line.split(". ", 1)[1] for line in text.splitlines()
            if line[:1].isdigit() and ". " in line]


def _shown(r: Any) -> str:
    return r.articles[0]["Title"] if r.kind == "news" else r.text


def test_traditional_characters_find_simplified_stories_and_back(talk) -> None:  # type: ignore[no-untyped-def]
    bot, _ = talk
    assert "养老驿站" in _shown(bot.send("社區養老", user="o_t"))
    assert "郭龙生" in _shown(bot.send("郭龍生", user="o_t"))
    # a story that arrived in traditional characters is found by simplified words
    assert "東關街道黨建聯盟成立" in _shown(bot.send("党建联盟", user="o_t"))
    assert "東關街道黨建聯盟成立" in _shown(bot.send("东关街道", user="o_t"))


def test_a_name_typed_with_a_same_sounding_character_finds_and_says_so(talk) -> None:  # type: ignore[no-untyped-def]
    bot, _ = talk
    r = bot.send("郭龙升", user="o_n")
    assert r.kind == "text" and r.text.startswith("没有找到“郭龙升”，为您找到“郭龙生”")
    assert "郭龙生：用心做好每件民生实事" in _listed(r.text)
    r = bot.send("永星屯村", user="o_n")  # a place
    assert "为您找到“永兴屯村”" in r.text
    assert "为您找到" not in bot.send("仰老驿站", user="o_n").text  # 养老 is no name or place


def test_commands_and_picks_with_the_punctuation_people_type(talk) -> None:  # type: ignore[no-untyped-def]
    bot, s = talk
    u = "o_p"
    first = _listed(bot.send("养老驿站", user=u).text)
    assert len(first) == 3
    second = _listed(bot.send("下一页。", user=u).text)
    assert len(second) == 3 and not set(second) & set(first)
    assert _listed(bot.send("第二页！", user=u).text) == second
    assert _listed(bot.send("上一页~", user=u).text) == first
    picked = bot.send("2。", user=u).text
    assert picked.startswith(f"【{first[1]}】")
    assert bot.send("第3条!", user=u).text.startswith(f"【{first[2]}】")
    assert "订阅成功：党建" in bot.send(" 订阅 党建 ", user=u).text
    assert "订阅成功：社区" in bot.send("订阅社区！", user=u).text
    assert subscribers.get(s.store, u).categories == ["党建", "社区"]  # type: ignore[union-attr]
    assert "党建、社区" in bot.send("我的订阅？", user=u).text
    from handlers.help import HELP_TEXT

    assert bot.send("帮助。", user=u).text == bot.send("？", user=u).text == HELP_TEXT


def test_a_search_that_finds_nothing_keeps_the_list_being_paged(talk) -> None:  # type: ignore[no-untyped-def]
    bot, _ = talk
    u = "o_keep"
    first = _listed(bot.send("养老驿站", user=u).text)
    assert "没有找到" in bot.send("量子计算机", user=u).text
    assert bot.send("1", user=u).text.startswith(f"【{first[0]}】")
    assert len(_listed(bot.send("下一页", user=u).text)) == 3


def test_a_question_that_finds_nothing_names_its_subject(talk) -> None:  # type: ignore[no-untyped-def]
    bot, _ = talk
    r = bot.send("我想看一下郭龙生书记的事迹。", user="o_q")
    head = r.text.splitlines()[0]
    assert "郭龙生" in head and "我想看" not in head and "。" not in head.split("的新闻")[0]
    assert "郭龙生：用心做好每件民生实事" in _listed(r.text)
    miss = bot.send("请问有没有关于量子计算机的报道？", user="o_q").text
    assert "量子" in miss.splitlines()[0] and "请问" not in miss.splitlines()[0]


def test_edge_texts_read_naturally_for_one_story_and_one_page(talk) -> None:  # type: ignore[no-untyped-def]
    bot, _ = talk
    u = "o_one"
    assert bot.send("停车场", user=u).kind == "news"  # the one story: a card
    assert bot.send("2", user=u).text.startswith("没有第 2 条。列表里只有 1 条，请回复 1")
    assert bot.send("第2页", user=u).text.startswith("结果只有 1 页，都在上面了")
    end = bot.send("更多", user=u).text
    assert end.startswith("结果只有这一页") and "共 1 条" in end and "回复 1 查看详情" in end
    assert "1–1" not in end and "第1页" not in bot.send("第3页", user=u).text
