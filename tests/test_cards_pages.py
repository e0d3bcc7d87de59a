"""What a reader meets around one story: the card's cover, the article page's source and date
and its way back to the account, and the related stories offered after a story is opened."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.app import Services, build_services
from bot.config import ConfigError, load_config
from store import articles
from store.articles import Article
from tests.conftest import Bot, write_config

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


def test_a_default_cover_must_be_a_web_address(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[pages\] default_cover"):
        load_config(write_config(tmp_path, '[pages]\ndefault_cover = "cover.jpg"\n'), env={})
    with pytest.raises(ConfigError, match=r"\[import\] sources"):
        load_config(write_config(tmp_path, '[import]\nsources = { "a*.txt" = 3 }\n'), env={})
