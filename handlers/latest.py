"""The newest stories: 最新, 最新党建, 最新社区 (and the like) as a numbered list to page through
and pick from; the menu buttons as news cards (a menu click may be answered with up to eight)."""

from __future__ import annotations

from handlers import listing
from handlers.base import Context, Message, News, Reply, Routes
from store.categories import CATEGORIES

routes = Routes()

CLICK_CARDS = 8
CLICK_KEYS = {"LATEST": "", "LATEST_DANGJIAN": "党建", "LATEST_SHEQU": "社区"}


def _empty(category: str) -> str:
    what = f"{category}新闻" if category else "新闻"
    return f"暂时还没有{what}，请稍后再来看看。发送“帮助”查看其他用法。"


# 最新, 最新党建, 最新的社区新闻, 最近有什么新闻, 新闻: the newest stories (a
# topic in between, 最近的养老新闻, is a search)
# (党建 alone stays a search: it is also a word stories carry)
_NEWS = r"(?:新闻|报道|消息|动态)"
_CATEGORY = "(" + "|".join(CATEGORIES) + ")"
_LATEST = (
    r"(?:(?:(?:最新|最近|近期)的?(?:有什么|有啥)?|有什么|有啥)\s*" + _CATEGORY + "?的?"
    + _NEWS + r"?|" + _CATEGORY + "?的?" + _NEWS + r")[\s吗呢吧?？!！。~～]*"
)


@routes(regex=_LATEST, priority=40, quick=True)
def latest_text(msg: Message, ctx: Context) -> Reply:
    category = (ctx.match.group(1) or ctx.match.group(2) if ctx.match else None) or ""
    shown = listing.show(ctx, listing.Listing(kind="latest", category=category), 0)
    return shown if shown is not None else _empty(category)


@routes(event="click", key=tuple(CLICK_KEYS), priority=40, quick=True)
def latest_click(msg: Message, ctx: Context) -> Reply:
    category = CLICK_KEYS[msg.key]
    found = listing.newest(ctx, category, CLICK_CARDS)
    if not found:
        return _empty(category)
    return News([listing.card(ctx.config, a) for a in found])
