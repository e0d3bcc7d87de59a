"""A subscriber's conversation at the HTTP boundary: signed XML in, the reply the user sees out.

Search lists, number picks, paging, cards, latest, subscriptions, follow / unfollow, expiry of
the conversation state, and what the account cannot read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.app import Services, build_services
from bot.config import load_config
from bot.state.sqlite import SQLiteState
from handlers.base import TEXT_LIMIT
from store import articles, subscribers
from store.articles import Article
from store.ingest import import_text
from tests.conftest import PAGE_SETS, Bot, page_set, write_config

# Stories written for these tests, in the style of a city paper's party-building pages.
ELDERCARE = [
    ("松柏社区养老驿站开门迎客", "松柏社区养老驿站正式运营，为辖区老人提供助餐、理疗和日间照料服务。"
     "社区党支部组织党员志愿者轮流值守，老人们在驿站里下棋聊天，其乐融融。"),
    ("青石街道推进居家养老服务", "青石街道把居家养老服务送到楼院，网格员上门登记老人需求。"
     "街道党工委要求各社区建立服务台账，做到事事有回音。"),
    ("南湖社区养老助餐点受欢迎", "南湖社区养老助餐点每天中午供应两荤两素，八十岁以上老人半价。"
     "社区居委会主任说，助餐点让子女上班更安心。"),
    ("党员志愿者走进养老院", "端午节前夕，柳岸村党支部二十余名党员志愿者走进镇养老院，"
     "为老人包粽子、理发、表演节目，送去节日的问候。"),
    ("智慧养老平台覆盖全区", "全区智慧养老平台上线，独居老人家中安装呼叫设备，一键联系社区。"
     "平台已服务老人三千余人次，社区干部定期回访。"),
]
UNIQUE = ("紫藤社区开办银龄学堂", "紫藤社区银龄学堂开课，退休教师为居民讲授书法和手机使用。"
          "社区党支部书记表示，学堂要办成居民家门口的课堂。")


def _save(store, title: str, text: str, **kw) -> int:  # type: ignore[no-untyped-def]
    aid, _ = articles.save(store, Article(title=title, body=[text], source="测试晚报", **kw))
    return aid


@pytest.fixture
def convo(tmp_path: Path, make_bot: Callable[..., Bot]) -> Iterator[tuple[Bot, Services]]:
    """A bot with two stories per page and the test stories saved."""
    cfg = load_config(
        write_config(
            tmp_path,
            '[search]\npage_size = 2\n[server]\npublic_url = "https://news.example.org"\n',
        ),
        env={},
    )
    s = build_services(cfg)
    for title, text in ELDERCARE:
        _save(s.store, title, text)
    _save(s.store, *UNIQUE)
    yield make_bot(s), s
    s.close()


def _numbers(text: str) -> list[int]:
    return [int(line.split(".", 1)[0]) for line in text.splitlines()
            if line[:1].isdigit() and ". " in line]


# -- search: list, pick, paging -------------------------------------------------------------------
def test_keyword_with_several_hits_gives_a_numbered_list(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    r = bot.send("养老", user="o_list")
    assert r.kind == "text"
    assert "养老" in r.text and "5" in r.text.splitlines()[0]  # the query and how many
    assert _numbers(r.text) == [1, 2]
    assert "下一页" in r.text and "更多" in r.text and "序号" in r.text
    titles = {t for t, _ in ELDERCARE}
    listed = [line.split(". ", 1)[1] for line in r.text.splitlines() if line[:2] in ("1.", "2.")]
    assert all(t in titles for t in listed)


def test_number_pick_gives_summary_and_link(convo) -> None:  # type: ignore[no-untyped-def]
    bot, s = convo
    r = bot.send("养老", user="o_pick")
    second_title = [ln for ln in r.text.splitlines() if ln.startswith("2. ")][0][3:]
    picked = bot.send("2", user="o_pick")
    assert picked.kind == "text"
    assert second_title in picked.text
    aid = next(a.id for a in articles.latest(s.store, 20) if a.title == second_title)
    assert f"https://news.example.org/articles/{aid}" in picked.text
    # the long summary: the story's own opening words
    body = next(text for t, text in ELDERCARE if t == second_title)
    assert body[:15] in picked.text
    # full-width digits work too, and other users' lists are their own
    assert second_title in bot.send("２", user="o_pick").text
    assert "先发送关键词" in bot.send("2", user="o_someone_else").text


def test_a_number_said_the_long_way_picks_too(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    r = bot.send("养老", user="o_said")
    second = [ln for ln in r.text.splitlines() if ln.startswith("2. ")][0][3:]
    for said in ("第2条", "第二篇", "第 2 个", "2号", "第二"):
        picked = bot.send(said, user="o_said")
        assert picked.kind == "text" and picked.text.startswith(f"【{second}】"), said
    assert "没有第 7 条" in bot.send("第七条", user="o_said").text
    assert "先发送关键词" in bot.send("第1条", user="o_said_nolist").text


def test_paging_to_the_end_and_past_it(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    first = bot.send("养老", user="o_page")
    second = bot.send("下一页", user="o_page")
    third = bot.send("更多", user="o_page")
    assert _numbers(first.text) == [1, 2]
    assert _numbers(second.text) == [3, 4] and "第 2/3 页" in second.text
    assert _numbers(third.text) == [5] and "全部结果" in third.text
    assert "下一页" not in third.text
    past = bot.send("下一页", user="o_page")
    assert "最后一页" in past.text and _numbers(past.text) == []
    seen = [ln.split(". ", 1)[1] for r in (first, second, third) for ln in r.text.splitlines()
            if ln[:1].isdigit() and ". " in ln]
    assert sorted(seen) == sorted(t for t, _ in ELDERCARE)  # every hit once, none twice
    # numbers of earlier pages still mean what they said
    title_1 = [ln for ln in first.text.splitlines() if ln.startswith("1. ")][0][3:]
    assert title_1 in bot.send("1", user="o_page").text
    back = bot.send("上一页", user="o_page")
    assert _numbers(back.text) == [3, 4]
    title_5 = [ln for ln in third.text.splitlines() if ln.startswith("5. ")][0][3:]
    assert title_5 in bot.send("5", user="o_page").text  # still valid after going back


def test_a_page_asked_for_by_its_number(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    assert "重新发送关键词" in bot.send("第2页", user="o_jump").text  # no list yet
    first = bot.send("养老", user="o_jump")
    assert "第 1/3 页" in first.text
    third = bot.send("第3页", user="o_jump")
    assert _numbers(third.text) == [5] and "全部结果" in third.text
    title_5 = [ln for ln in third.text.splitlines() if ln.startswith("5. ")][0][3:]
    assert title_5 in bot.send("5", user="o_jump").text  # the jumped-to page is picked from
    for asked in ("第二页", "第 2 页", "第２页"):
        again = bot.send(asked, user="o_jump")
        assert _numbers(again.text) == [3, 4] and "第 2/3 页" in again.text, asked
    assert _numbers(bot.send("下一页", user="o_jump").text) == [5]  # paging goes on from there
    past = bot.send("第九页", user="o_jump")
    assert "一共只有 3 页" in past.text and _numbers(past.text) == []
    assert "页码" in bot.send("第0页", user="o_jump").text
    assert _numbers(bot.send("第一页", user="o_jump").text) == [1, 2]
    bot.send("最新", user="o_jump")  # the latest stories page the same way
    assert _numbers(bot.send("第3页", user="o_jump").text) == [5, 6]
    assert "没有第 4 页" in bot.send("第4页", user="o_jump").text


def test_number_out_of_range_or_without_a_list_is_a_hint(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    assert "先发送关键词" in bot.send("3", user="o_hint").text
    bot.send("养老", user="o_hint")
    r = bot.send("9", user="o_hint")
    assert r.kind == "text" and "没有第 9 条" in r.text and "1–2" in r.text
    assert "没有第 0 条" in bot.send("0", user="o_hint").text


def test_paging_without_a_list(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    r = bot.send("下一页", user="o_nolist")
    assert r.kind == "text" and "重新发送关键词" in r.text


def test_one_clear_winner_gets_a_card(convo) -> None:  # type: ignore[no-untyped-def]
    bot, s = convo
    r = bot.send("银龄学堂", user="o_card")
    assert r.kind == "news" and len(r.articles) == 1
    card = r.articles[0]
    aid = next(a.id for a in articles.latest(s.store, 20) if a.title == UNIQUE[0])
    assert card["Title"] == UNIQUE[0]
    assert card["Url"] == f"https://news.example.org/articles/{aid}"
    assert card["Description"].startswith(UNIQUE[1][:10])
    # a number after a card means that story
    assert UNIQUE[0] in bot.send("1", user="o_card").text


def test_a_winner_far_ahead_gets_a_card_and_the_rest_stay_one_word_away(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    # 志愿者 is in one title; another story mentions it once in passing
    r = bot.send("志愿者", user="o_ahead")
    assert r.kind == "news" and r.articles[0]["Title"] == "党员志愿者走进养老院"
    assert "另有 1 条" in r.articles[0]["Description"] and "更多" in r.articles[0]["Description"]
    rest = bot.send("更多", user="o_ahead")
    assert _numbers(rest.text) == [1, 2] and "党员志愿者走进养老院" in rest.text
    assert "松柏社区养老驿站开门迎客" in rest.text
    assert "结果只有这一页" in bot.send("更多", user="o_ahead").text  # one page: no "last page"


def test_story_with_its_own_url_and_picture_links_there(convo) -> None:  # type: ignore[no-untyped-def]
    bot, s = convo
    _save(s.store, "荷花池社区举办邻里节", "荷花池社区邻里节上，居民带来拿手菜，百家宴摆满长街。",
          url="https://paper.example.org/2024/lotus.html", picurl="https://paper.example.org/l.jpg")
    r = bot.send("邻里节", user="o_url")
    assert r.kind == "news"
    assert r.articles[0]["Url"] == "https://paper.example.org/2024/lotus.html"
    assert r.articles[0]["PicUrl"] == "https://paper.example.org/l.jpg"


def test_when_no_story_has_every_word_the_list_says_so(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    r = bot.send("养老 量子", user="o_any")  # no story speaks of 量子
    assert r.kind == "text" and "没有同时包含" in r.text.splitlines()[0]
    assert _numbers(r.text) == [1, 2]


def test_nothing_found_suggests_what_to_do(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    r = bot.send("量子计算机", user="o_none")
    assert r.kind == "text"
    assert "没有找到" in r.text and "最新" in r.text and "帮助" in r.text
    # the suggested words are words that do find stories, never the query that failed
    hint = next(line for line in r.text.splitlines() if "换一个" in line)
    words = hint.split("如", 1)[1].strip().split("、")
    assert words and "量子计算机" not in words
    for w in words:
        assert "没有找到" not in bot.send(w, user="o_none2").text, w


def test_long_number_is_searched_not_picked(convo) -> None:  # type: ignore[no-untyped-def]
    bot, s = convo
    _save(s.store, "643名党员报到进社区", "全区643名在职党员到居住地社区报到，认领服务岗位。")
    r = bot.send("643", user="o_num")
    assert r.kind == "news" and r.articles[0]["Title"] == "643名党员报到进社区"


def test_hostile_text_gets_a_polite_answer(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    for text in ['"养老', "养老 AND OR", "NEAR(养老", "*", "-:", "'; DROP TABLE articles;--",
                 "养老" * 300]:
        r = bot.send(text, user="o_hostile")
        assert r.kind in ("text", "news") and "开小差" not in r.text, text
        assert len(r.text.encode()) <= 2000


def test_small_talk_is_answered_not_searched(convo) -> None:  # type: ignore[no-untyped-def]
    from handlers.help import GREETING_TEXT, OK_TEXT, THANKS_TEXT

    bot, s = convo
    _save(s.store, "社区志愿者收到居民的一声谢谢", "居民说谢谢，志愿者说在吗都会回应。")
    from handlers.help import HELP_TEXT

    for asked in ("怎么用", "使用说明", "你能做什么"):
        assert bot.send(asked, user="o_chat").text == HELP_TEXT, asked
    for said, answer in (("你好", GREETING_TEXT), ("您好！", GREETING_TEXT), ("Hello", GREETING_TEXT),
                         ("在吗？", GREETING_TEXT), ("谢谢", THANKS_TEXT), ("谢谢~", THANKS_TEXT),
                         ("Thank you!", THANKS_TEXT), ("好的", OK_TEXT), ("OK", OK_TEXT)):
        r = bot.send(said, user="o_chat")
        assert r.kind == "text" and r.text == answer, said
    # words around them are a search again, and the list stays for paging and picks
    found = bot.send("一声谢谢", user="o_chat")
    assert found.kind == "news" and "一声谢谢" in found.articles[0]["Title"]
    bot.send("养老", user="o_chat")
    bot.send("好的", user="o_chat")
    assert _numbers(bot.send("下一页", user="o_chat").text) == [3, 4]


def test_queries_are_logged_with_their_hit_counts(convo) -> None:  # type: ignore[no-untyped-def]
    bot, s = convo
    bot.send("养老", user="o_log")
    bot.send("量子计算机", user="o_log")
    bot.send("下一页", user="o_log")  # paging is not a new query
    s.store.flush()  # the rows are queued: they land within a second, or now
    rows = list(s.store.db.execute("SELECT user, query, hits FROM query_log ORDER BY id"))
    assert rows == [("o_log", "养老", 5), ("o_log", "量子计算机", 0)]


def test_a_full_page_of_long_titles_fits_one_message(tmp_path: Path, make_bot) -> None:  # type: ignore[no-untyped-def]
    cfg = load_config(write_config(tmp_path, "[search]\npage_size = 10\n"), env={})
    s = build_services(cfg)
    for i in range(12):
        title = f"第{i + 1}篇：" + "社区网格员走街串巷为居民解难题办实事暖民心" * 3
        _save(s.store, title, f"网格员第{i + 1}次走访。" + "社区网格员每天走访楼院，收集居民诉求。" * 20)
    r = make_bot(s).send("网格员", user="o_long")
    assert r.kind == "text"
    assert len(r.text.encode()) <= TEXT_LIMIT and not r.text.endswith("…")  # not clipped by the limit
    assert _numbers(r.text) == list(range(1, 11))
    assert "下一页" in r.text
    s.close()


# -- state expiry ---------------------------------------------------------------------------------
def test_conversation_state_expires(tmp_path: Path, make_bot) -> None:  # type: ignore[no-untyped-def]
    cfg = load_config(
        write_config(tmp_path, "session_ttl = 1\n[search]\npage_size = 2\n"), env={}
    )
    s = build_services(cfg)
    for title, text in ELDERCARE:
        _save(s.store, title, text)
    bot = make_bot(s)
    bot.send("养老", user="o_exp")
    assert "【" in bot.send("1", user="o_exp").text  # fresh: the pick works
    time.sleep(1.2)
    assert "先发送关键词" in bot.send("1", user="o_exp").text
    assert "重新发送关键词" in bot.send("下一页", user="o_exp").text
    s.close()


# -- latest ---------------------------------------------------------------------------------------
def test_latest_lists_newest_first_and_pages(convo) -> None:  # type: ignore[no-untyped-def]
    bot, s = convo
    newest = [a.title for a in articles.latest(s.store, 10)]
    r = bot.send("最新", user="o_latest")
    assert r.kind == "text" and "最新报道" in r.text
    assert [ln[3:] for ln in r.text.splitlines() if ln[:1] in "12" and ". " in ln] == newest[:2]
    assert newest[0] in bot.send("1", user="o_latest").text
    assert newest[2] in bot.send("下一页", user="o_latest").text


def test_latest_and_more_as_people_ask_for_them(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    for asked in ("最新的新闻", "最近有什么新闻？", "新闻", "最新消息"):
        r = bot.send(asked, user="o_ask")
        assert r.kind == "text" and r.text.startswith("最新报道："), asked
    # today's news is today's digest, not the latest list
    r = bot.send("今天的新闻", user="o_ask")
    assert r.kind == "text" and "新收录" in r.text.splitlines()[0]
    assert bot.send("党建新闻", user="o_ask").text.startswith("最新党建报道")
    assert bot.send("最近的社区动态", user="o_ask").text.startswith("最新社区报道")
    bot.send("养老", user="o_ask")
    for more, numbers in (("换一批", [3, 4]), ("还有吗", [5])):
        assert _numbers(bot.send(more, user="o_ask").text) == numbers, more
    # a topic in between is a search; so is a category name alone
    assert "养老" in bot.send("最近的养老新闻", user="o_ask").text.splitlines()[0]
    assert not bot.send("社区", user="o_ask").text.startswith("最新")


def test_latest_in_a_category(convo) -> None:  # type: ignore[no-untyped-def]
    bot, s = convo
    _save(s.store, "机关党支部开展主题党日", "机关党支部全体党员重温入党誓词，上了一堂党课。"
          "党支部书记讲述主题教育的要求，党员们交流学习体会。", categories=["党建"])
    r = bot.send("最新党建", user="o_cat")
    assert r.kind == "text" and "最新党建报道" in r.text
    listed = [ln[3:] for ln in r.text.splitlines() if ln[:1].isdigit() and ". " in ln]
    dangjian = {a.title for a in articles.latest(s.store, 50, category="党建")}
    assert listed and set(listed) <= dangjian
    assert "机关党支部开展主题党日" in listed


def test_menu_click_gets_up_to_eight_cards(convo) -> None:  # type: ignore[no-untyped-def]
    bot, s = convo
    for i in range(8):
        _save(s.store, f"社区楼院议事会第{i + 1}期", f"第{i + 1}期楼院议事会上，居民和物业、网格员商量小区停车问题。",
              categories=["社区"])
    r = bot.send(user="o_click", event="CLICK", key="LATEST_SHEQU")
    assert r.kind == "news" and len(r.articles) == 8
    shequ = {a.title: a.id for a in articles.latest(s.store, 50, category="社区")}
    assert all(a["Title"] in shequ for a in r.articles)
    assert r.articles[0]["Url"].startswith("https://news.example.org/articles/")


def test_latest_when_the_store_is_empty(bot: Bot) -> None:
    r = bot.send("最新社区", user="o_empty")
    assert r.kind == "text" and "还没有社区新闻" in r.text
    assert bot.send(user="o_empty", event="CLICK", key="LATEST").kind == "text"


# -- subscriptions --------------------------------------------------------------------------------
def test_subscribe_unsubscribe_round_trip(bot: Bot, services: Services) -> None:
    u = "o_sub"
    r = bot.send("订阅 党建", user=u)
    # the tests' schedule is off: the reply promises no time and points to 今日 instead
    assert "订阅成功：党建" in r.text and "08:00" not in r.text and "暂停" in r.text
    assert subscribers.get(services.store, u).categories == ["党建"]
    assert "党建" in bot.send("我的订阅", user=u).text
    r = bot.send("订阅 社区", user=u)
    assert "订阅成功：社区" in r.text
    assert subscribers.get(services.store, u).categories == ["党建", "社区"]
    assert "无需重复" in bot.send("订阅 社区", user=u).text
    r = bot.send("退订 党建", user=u)
    assert "已退订党建" in r.text and "仍订阅社区" in r.text
    assert subscribers.get(services.store, u).categories == ["社区"]
    r = bot.send("退订", user=u)
    assert "不再给您推送" in r.text
    assert subscribers.get(services.store, u).categories == []
    assert "还没有订阅" in bot.send("我的订阅", user=u).text
    assert "没有订阅" in bot.send("退订", user=u).text
    assert u not in [x.openid for x in subscribers.for_digest(services.store)]


def test_subscribe_alone_means_everything_and_says_so(bot: Bot, services: Services) -> None:
    r = bot.send("订阅", user="o_all")
    assert "党建、社区" in r.text and "默认订阅全部" in r.text and "退订 社区" in r.text
    assert subscribers.get(services.store, "o_all").categories == ["党建", "社区"]
    r = bot.send(user="o_click_sub", event="CLICK", key="SUBSCRIBE")
    assert r.kind == "text" and "订阅成功" in r.text
    assert subscribers.get(services.store, "o_click_sub").categories == ["党建", "社区"]


def test_categories_named_as_people_say_them(bot: Bot, services: Services) -> None:
    assert "订阅成功：党建" in bot.send("订阅党建新闻", user="o_words").text
    assert subscribers.get(services.store, "o_words").categories == ["党建"]
    assert "订阅成功：社区" in bot.send("订阅新闻", user="o_words").text  # news: all of it
    assert "已退订社区" in bot.send("退订社区类", user="o_words").text
    assert subscribers.get(services.store, "o_words").categories == ["党建"]
    assert "没有“体育新闻”这个栏目" in bot.send("订阅 体育新闻", user="o_words").text
    assert "不再给您推送" in bot.send("不要推送了", user="o_words").text
    assert subscribers.get(services.store, "o_words").categories == []
    bot.send("订阅", user="o_words")
    assert "已退订社区" in bot.send("停止推送社区", user="o_words").text
    assert "不再给您推送" in bot.send("请帮我退订党建", user="o_words").text  # the last one
    assert "订阅成功：党建" in bot.send("我要订阅党建新闻", user="o_words").text


def test_subscribe_to_an_unknown_category(bot: Bot, services: Services) -> None:
    r = bot.send("订阅 体育", user="o_bad")
    assert "没有“体育”这个栏目" in r.text and "订阅 党建" in r.text
    assert subscribers.get(services.store, "o_bad").categories == []


def test_unfollow_stops_pushes_and_follow_restores_them(bot: Bot, services: Services) -> None:
    u = "o_follow"
    first = bot.send(user=u, event="subscribe")
    assert "订阅" in first.text and "感谢关注" in first.text
    bot.send("订阅 社区", user=u)
    assert u in [x.openid for x in subscribers.for_digest(services.store)]
    gone = bot.send(user=u, event="unsubscribe")
    assert gone.kind == "success"
    assert subscribers.get(services.store, u).following is False
    assert u not in [x.openid for x in subscribers.for_digest(services.store)]
    # events dedup on user + time: a second follow comes at a later CreateTime
    back = bot.send(user=u, event="subscribe", create_time=int(time.time()) + 5)
    assert "欢迎回来" in back.text and "社区" in back.text
    assert u in [x.openid for x in subscribers.for_digest(services.store)]


def test_every_user_message_and_click_opens_the_window(bot: Bot, services: Services) -> None:
    for i, kw in enumerate([dict(text="帮助"), dict(msgtype="image"),
                            dict(msgtype="voice", extra={"Recognition": "养老"}),
                            dict(event="CLICK", key="HELP")]):
        u = f"o_seen_{i}"
        before = time.time()
        bot.send(user=u, **kw)
        seen = subscribers.get(services.store, u)
        assert seen is not None and seen.last_seen is not None and seen.last_seen >= before - 1, kw
    bot.send(user="o_view", event="VIEW", key="https://x.example.org")
    assert subscribers.get(services.store, "o_view") is None  # not a message from the user


# -- what the account cannot read -----------------------------------------------------------------
@pytest.mark.parametrize(
    "kw",
    [dict(msgtype="image", extra={"PicUrl": "https://x.example.org/p.jpg"}),
     dict(msgtype="location", extra={"Location_X": "34.7", "Location_Y": "113.6"}),
     dict(msgtype="link", extra={"Url": "https://x.example.org", "Title": "x"}),
     dict(msgtype="video", extra={"MediaId": "m"}),
     dict(msgtype="shortvideo", extra={"MediaId": "m"}),
     dict(msgtype="voice", extra={"MediaId": "m", "Format": "amr"}),
     dict(text="[微笑]"), dict(text="/::)/::P"), dict(text="👍👍"), dict(text="。。。"),
     dict(text="https://mp.weixin.qq.com/s/AbC-123"), dict(text="www.example.org/news/1")],
)
def test_what_cannot_be_read_gets_a_friendly_pointer(bot: Bot, kw: dict) -> None:  # type: ignore[type-arg]
    r = bot.send(user="o_odd", **kw)
    assert r.kind == "text" and "帮助" in r.text and "没有找到" not in r.text


def test_voice_with_recognition_is_searched_like_text(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    typed = bot.send("养老", user="o_typed")
    spoken = bot.send(user="o_voice", msgtype="voice",
                      extra={"MediaId": "m", "Format": "amr", "Recognition": "养老。"})
    assert spoken.kind == "text" and spoken.text == typed.text
    more = bot.send(user="o_voice", msgtype="voice", extra={"Recognition": "下一页！"})
    assert _numbers(more.text) == [3, 4]
    card = bot.send(user="o_voice", msgtype="voice", extra={"Recognition": "银龄学堂"})
    assert card.kind == "news" and card.articles[0]["Title"] == UNIQUE[0]
    assert "订阅成功" in bot.send(user="o_voice", msgtype="voice",
                                  extra={"Recognition": "订阅社区。"}).text


# -- over whole pages -----------------------------------------------------------------------------
# per page set: a mixed query and a piece of the title it must show first (the story of the
# place's eldercare), and a word shared by enough stories to page through
OVER_PAGES = {
    "own": ("银杏社区养老", "养老驿站", "社区"),
    "seed": ("天河社区养老", "三心", "党建"),  # the portrait of the 天河社区 party secretary
}



@pytest.mark.parametrize("kind", PAGE_SETS)
def test_a_conversation_over_whole_pages(bot: Bot, services: Services, kind: str) -> None:
    query, piece, common = OVER_PAGES[kind]
    for page in page_set(kind):
        import_text(services.store, page.read_text(encoding="utf-8"), page.name)
    u = "o_reader"
    card = bot.send(query, user=u)
    shown = card.articles[0]["Title"] if card.kind == "news" else card.text.splitlines()[2]
    assert piece in shown
    pages = [bot.send(common, user=u)]
    while "下一页" in pages[-1].text:
        pages.append(bot.send("下一页", user=u))
        assert len(pages) < 20
    numbers = [n for p in pages for n in _numbers(p.text)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) > 5
    assert all(len(p.text.encode()) <= TEXT_LIMIT for p in pages)
    assert "最后一页" in bot.send("更多", user=u).text
    picked = bot.send(str(len(numbers)), user=u)
    assert picked.kind == "text" and "/articles/" in picked.text and picked.text.startswith("【")


class _CountingState(SQLiteState):
    """The SQLite backend, counting the writes the webhook makes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: list[str] = []

    def claim(self, key, lease):  # type: ignore[no-untyped-def]
        self.calls.append("claim")
        return super().claim(key, lease)

    def finish_with(self, key, answer, ttl, writes):  # type: ignore[no-untyped-def]
        self.calls.append(f"finish_with:{len(writes)}")
        return super().finish_with(key, answer, ttl, writes)

    def answer(self, key):  # type: ignore[no-untyped-def]
        self.calls.append("answer")
        return super().answer(key)

    def settle_many(self, items):  # type: ignore[no-untyped-def]
        self.calls += [f"settle:{len(item[3])}" for item in items]
        return super().settle_many(items)

    def set(self, key, value, ttl=None):  # type: ignore[no-untyped-def]
        self.calls.append("set")
        return super().set(key, value, ttl)

    def add(self, key, n=1, ttl=None):  # type: ignore[no-untyped-def]
        self.calls.append("add")
        return super().add(key, n, ttl)


def test_a_message_writes_its_list_and_reply_in_one_go(tmp_path: Path, make_bot) -> None:  # type: ignore[no-untyped-def]
    cfg = load_config(write_config(tmp_path, "[search]\npage_size = 2\n"), env={})
    state = _CountingState(tmp_path / "counted-state.db")
    s = build_services(cfg, state=state)
    try:
        for title, text in ELDERCARE:
            _save(s.store, title, text)
        bot = make_bot(s)
        first = bot.send("养老", user="o_once")
        # the claim, then the list for paging + today's message count + the reply together
        assert state.calls == ["claim", "finish_with:2"]
        assert _numbers(first.text) == [1, 2]
        # the list is there for the next message (it may reach another worker)
        assert _numbers(bot.send("下一页", user="o_once").text) == [3, 4]
        assert state.calls[2:] == ["claim", "finish_with:2"]
        # a pick searches for the story's related ones, so it runs in a thread: its claim,
        # then its list and reply together; its retry gets the kept answer, with no writes
        pick = bot.send("2", user="o_once", msgid="77")
        assert state.calls[4:] == ["claim", "finish_with:2"]
        assert bot.send("2", user="o_once", msgid="77").text == pick.text
        assert state.calls[6:] == ["claim"]  # the claim finds the kept answer
    finally:
        s.close()


def test_a_number_past_a_card_points_to_more(convo) -> None:  # type: ignore[no-untyped-def]
    bot, _ = convo
    assert bot.send("志愿者", user="o_card_pick").kind == "news"
    r = bot.send("2", user="o_card_pick")
    assert "更多" in r.text and "全部 2 条" in r.text and "1–1" not in r.text
    listed = bot.send("更多", user="o_card_pick")
    second = next(ln for ln in listed.text.splitlines() if ln.startswith("2. "))[3:]
    assert second in bot.send("2", user="o_card_pick").text
