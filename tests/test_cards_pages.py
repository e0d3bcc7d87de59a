"""What a reader meets around one story: the card's cover, the article page's source and date
and its way back to the account, and the related stories offered after a story is opened."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.app import Services, build_services
from bot.cli import main
from bot.config import ConfigError, load_config
from handlers.base import TEXT_LIMIT
from store import articles
from store.articles import Article
from store.ingest import import_text
from tests.conftest import PAGE_SETS, Bot, page_set, write_config

COVER = "https://news.example.org/static/cover.jpg"
SETTINGS = f"""
[server]
public_url = "https://news.example.org"
[search]
page_size = 3
[pages]
default_cover = "{COVER}"
[import]
sources = {{ "qhrb_*.txt" = "青河日报" }}
"""


@pytest.fixture
def reader(tmp_path: Path, make_bot: Callable[..., Bot]) -> Iterator[tuple[Bot, Services]]:
    s = build_services(load_config(write_config(tmp_path, SETTINGS), env={}))
    yield make_bot(s), s
    s.close()


def _save(s: Services, title: str, text: str, **kw: object) -> int:
    aid, _ = articles.save(s.store, Article(title=title, body=[text], **kw))  # type: ignore[arg-type]
    return aid


# -- covers on cards --------------------------------------------------------------------------
def test_a_card_without_a_picture_shows_the_default_cover(reader) -> None:  # type: ignore[no-untyped-def]
    bot, s = reader
    _save(s, "紫藤社区开办银龄学堂", "紫藤社区银龄学堂开课，退休教师为居民讲授书法和手机使用。",
          categories=["社区"])
    _save(s, "荷花池社区举办邻里节", "荷花池社区邻里节上，居民带来拿手菜，百家宴摆满长街。",
          categories=["社区"], picurl="https://paper.example.org/lotus.jpg")
    card = bot.send("银龄学堂", user="o_cover")
    assert card.kind == "news" and card.articles[0]["PicUrl"] == COVER
    own = bot.send("邻里节", user="o_cover")
    assert own.kind == "news" and own.articles[0]["PicUrl"] == "https://paper.example.org/lotus.jpg"
    menu = bot.send(user="o_cover", event="CLICK", key="LATEST_SHEQU")
    pics = {a["Title"]: a["PicUrl"] for a in menu.articles}
    assert pics == {"紫藤社区开办银龄学堂": COVER,
                    "荷花池社区举办邻里节": "https://paper.example.org/lotus.jpg"}


def test_without_a_default_cover_the_card_shows_the_bots_own(
    tmp_path: Path, make_bot: Callable[..., Bot]
) -> None:
    s = build_services(load_config(write_config(
        tmp_path, '[server]\npublic_url = "https://news.example.org"\n'), env={}))
    try:
        bot = make_bot(s)
        _save(s, "紫藤社区开办银龄学堂", "紫藤社区银龄学堂开课，退休教师为居民讲授书法和手机使用。")
        card = bot.send("银龄学堂", user="o_cover")
        assert card.kind == "news"
        assert card.articles[0]["PicUrl"] == "https://news.example.org/cover.png"
        served = bot.http.get("/cover.png")
        assert served.status_code == 200 and served.headers["content-type"] == "image/png"
        assert served.content.startswith(b"\x89PNG\r\n")
    finally:
        s.close()


def test_a_default_cover_must_be_a_web_address(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[pages\] default_cover"):
        load_config(write_config(tmp_path, '[pages]\ndefault_cover = "cover.jpg"\n'), env={})
    with pytest.raises(ConfigError, match=r"\[import\] sources"):
        load_config(write_config(tmp_path, '[import]\nsources = { "a*.txt" = 3 }\n'), env={})


# -- the article page: source, date, the way back ---------------------------------------------
STORY_TEXT = """
槐树社区开通“红色议事厅”
居民的事居民商量着办

本报讯 槐树社区党支部在社区服务中心开设“红色议事厅”，每月邀请居民代表、物业公司和驻区单位一起商量小区里的难事。今年以来，议事厅已经解决了停车难、楼道照明等十余件事。记者 林晓岚
"""
MASTHEAD = "青河日报  2024年7月2日 星期二  第3版\n" + STORY_TEXT
FOOTER = STORY_TEXT + "\n扫一扫 关注我们\n柳湾党建 微信公众号\n"


def _import(s: Services, tmp_path: Path, name: str, text: str) -> str:
    """Import ``text`` as the file ``name`` with the CLI; the story's page as a reader gets it."""
    page = tmp_path / name
    page.write_text(text, encoding="utf-8")
    r = CliRunner().invoke(main, ["--config", str(s.config.path), "import", str(page)])
    assert r.exit_code == 0, r.output
    found = [a for a in articles.latest(s.store, limit=50) if a.source == name]
    assert len(found) == 1, [a.title for a in found]
    return str(found[0].id)


def _page(bot: Bot, aid: str) -> str:
    r = bot.http.get(f"/articles/{aid}")
    assert r.status_code == 200
    return r.text


@pytest.mark.parametrize(("name", "text", "source", "date"), [
    ("p0702.txt", MASTHEAD, "青河日报", "2024年7月2日"),       # the masthead over the page
    ("p0703.txt", FOOTER, "柳湾党建", None),                 # the account named in the footer
    ("qhrb_0704.txt", STORY_TEXT, "青河日报", None),         # the operator's [import] sources
])
def test_the_page_names_its_source_as_readers_know_it(
    reader, tmp_path: Path, name: str, text: str, source: str, date: str | None  # type: ignore[no-untyped-def]
) -> None:
    bot, s = reader
    html = _page(bot, _import(s, tmp_path, name, text))
    assert f'<span class="m source">{source}</span>' in html and f"来源：{source}" in html
    assert name not in html and ".txt" not in html
    if date:
        assert f'<span class="m date">{date}</span>' in html
    else:  # no printed date: none at all, not the day it was imported
        assert 'class="m date"' not in html and "收录" not in html
    assert "回复关键词查看更多" in html and "公众号“党建社区新闻”" in html


def test_a_page_without_a_name_never_shows_the_file_name(reader, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bot, s = reader
    html = _page(bot, _import(s, tmp_path, "scan_0042.txt", STORY_TEXT))
    assert "scan_0042" not in html and 'class="m source"' not in html
    assert "<footer>党建社区新闻</footer>" in html
    aid = _save(s, "荷花池社区举办邻里节", "荷花池社区邻里节上，居民带来拿手菜，百家宴摆满长街。",
                url="https://www.paper.example.org/2024/lotus.html", source="lotus.html")
    html = _page(bot, str(aid))
    assert '<span class="m source">paper.example.org</span>' in html and "lotus.html" not in html


# -- related stories ----------------------------------------------------------------------------
RELATED_LINK = re.compile(r'· <a href="https://news\.example\.org/articles/(\d+)">([^<]+)</a>')


@pytest.fixture
def pages_read(reader):  # type: ignore[no-untyped-def]
    """The reader's bot with every page of the project's own samples and the seed pages."""
    bot, s = reader
    for kind in PAGE_SETS:
        try:
            paths = page_set(kind)
        except pytest.skip.Exception:
            continue
        for p in paths:
            import_text(s.store, p.read_text(encoding="utf-8"), p.name)
    return bot, s


def test_a_picked_story_offers_its_related_stories(pages_read) -> None:  # type: ignore[no-untyped-def]
    bot, s = pages_read
    offered = 0
    for query in ("网格", "养老", "议事"):
        listed = bot.send(query, user="o_rel")
        if listed.kind == "news":  # one clear winner as a card: the others are one "更多" away
            listed = bot.send("更多", user="o_rel")
        assert listed.kind == "text" and "1. " in listed.text, listed.text
        picked = bot.send("1", user="o_rel")
        assert picked.kind == "text" and picked.text.startswith("【")
        assert len(picked.text.encode("utf-8")) <= TEXT_LIMIT
        title = picked.text[1:picked.text.index("】")]
        found = RELATED_LINK.findall(picked.text)
        if not found:
            continue
        offered += 1
        assert "\n\n相关报道：\n" in picked.text and 1 <= len(found) <= 3
        ids = [int(i) for i, _ in found]
        assert len(set(ids)) == len(ids)
        for aid, shown in found:  # each link opens a real story, never the one just read
            a = articles.get(s.store, int(aid))
            assert a is not None and a.title == shown and a.title != title
    assert offered >= 2
    # the list the reader picked from is still there after the related stories were offered
    assert bot.send("2", user="o_rel").text.startswith("【")


def test_related_stories_are_the_ones_that_share_the_subject(reader) -> None:  # type: ignore[no-untyped-def]
    bot, s = reader
    first = _save(s, "松柏社区养老驿站开门迎客", "松柏社区养老驿站正式运营，为辖区老人提供助餐、理疗和日间照料服务。"
                  "社区党支部组织党员志愿者轮流值守，老人们在驿站里下棋聊天。")
    near = [_save(s, "南湖社区养老助餐点受欢迎", "南湖社区养老助餐点每天中午供应两荤两素，老人半价。"
                  "养老驿站和助餐点连成一片，老人不出社区就能吃上热饭。"),
            _save(s, "智慧养老平台覆盖全区", "全区智慧养老平台上线，独居老人一键联系社区养老驿站。")]
    _save(s, "快递小哥有了红色驿站", "快递员、外卖骑手在红色驿站里歇脚、饮水、充电。")
    _save(s, "紫藤社区开办银龄学堂", "退休教师为居民讲授书法和手机使用。")
    html = _page(bot, str(first))
    nav = html[html.index('<nav class="related"'):]
    nav = nav[:nav.index("</nav>")]
    linked = [int(i) for i in re.findall(r'href="https://news\.example\.org/articles/(\d+)"', nav)]
    assert "<h2>相关报道</h2>" in nav and first not in linked
    assert set(near) <= set(linked) and len(linked) <= 3
    assert "银龄学堂" not in nav
    # a story nothing else is about has no related block at all
    lone = _save(s, "青石桥完成加固", "青石桥桥墩加固工程完工，重新通行。")
    assert 'class="related"' not in _page(bot, str(lone))
