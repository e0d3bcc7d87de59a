"""Numbered lists a subscriber can page through and pick from, and the state behind them.

A list is either the hits of a search or the latest stories (of a category). What the user last
saw lives in the shared state backend under ``conv:<openid>`` for ``[state] session_ttl``
seconds: the kind of list, its query or category, the page shown and the ids shown so far, in
the order they were numbered. Numbers run on across pages (page 2 of five starts at 6), so a
number the user reads anywhere in the chat still means the story printed next to it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, fields
from typing import Any

from handlers import search_cache
from handlers.base import TEXT_LIMIT, Context, clip_bytes, clip_chars
from handlers.base import Article as Card
from store import articles

log = logging.getLogger("newsbot.listing")
SUMMARY_CHARS = 40  # one line of summary under each title
STATE_PREFIX = "conv:"

# A number said the long way: "第3条", "第三篇", "3号" pick, "第2页", "第 3 页", "第二页" jump
# (the header says "第 1/3 页", so users answer in kind). Picks are the search's routes; the
# keyword rules need the same pattern to step aside for a pick while a list is open.
SAID = r"(\d{1,3}|[一二两三四五六七八九十]{1,3})"
PICK = re.compile(rf"\d{{1,4}}|第\s*{SAID}\s*[条篇个]?|\d{{1,3}}\s*[条篇号]")


def article_url(config: Any, a: Any) -> str:
    """The story's own URL, or its page on this service."""
    return a.url or f"{config.public_url}/articles/{a.id}"


def cover_url(config: Any, a: Any) -> str:
    """The story's cover (its lead image, or one an admin set with #封面), else the account's
    default cover, else the plain one this service serves: WeChat draws a grey box on a card
    without a picture."""
    return a.picurl or config.pages["default_cover"] or f"{config.public_url}/cover.png"


def card(config: Any, a: Any) -> Card:
    return Card(title=a.title, description=a.summary or a.summary_long, url=article_url(config, a),
                picurl=cover_url(config, a))


def page_size(config: Any) -> int:
    return max(1, min(int(config.search["page_size"]), 10))


@dataclass
class Listing:
    """What a user is browsing: ``kind`` is ``search`` (``query``), ``latest`` (``category``)
    or ``digest``: today's edition (``category``: the categories, comma-separated; ``query``:
    the edition's day)."""

    kind: str
    query: str = ""
    category: str = ""
    page: int = 0
    ids: list[int] = field(default_factory=list)
    total: int = 0  # matches of a search; 0 when unknown (latest)
    mode: str = "all"  # the search's mode: all terms, or any term (fallback)
    last: bool = False  # the page shown is the last one
    subject: list[str] = field(default_factory=list)  # the words the search was about
    corrected: list[list[str]] = field(default_factory=list)  # [typed, found] sound-alikes

    def remember(self, page: int, ids: list[int], size: int) -> None:
        """Note the ids numbered on ``page``; numbers of other pages keep theirs."""
        start = page * size
        if len(self.ids) < start:
            self.ids += [0] * (start - len(self.ids))  # a page never shown: no story by that number
        self.ids[start : start + len(ids)] = ids
        self.page = page


_FIELDS = tuple(f.name for f in fields(Listing))


def load(ctx: Context) -> Listing | None:
    try:
        raw = ctx.state.get(STATE_PREFIX + ctx.user)
    except Exception:  # state backend down: answer as if the list expired
        log.warning("conversation state unreadable user=%s", ctx.user, exc_info=True)
        return None
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return Listing(**data)
    except (ValueError, TypeError):
        return None  # written by another version: as if expired


def dump(listing: Listing) -> str:
    """The list as the state keeps it (what :func:`load` reads back)."""
    # the fields by hand: dataclasses.asdict deep-copies, at a cost on every message
    return json.dumps({f: getattr(listing, f) for f in _FIELDS}, ensure_ascii=False)


def save(ctx: Context, listing: Listing | str) -> None:
    """Keep ``listing`` (or its :func:`dump`) as the user's current list."""
    ttl = ctx.config.state["session_ttl"]
    try:
        raw = listing if isinstance(listing, str) else dump(listing)
        ctx.state.set(STATE_PREFIX + ctx.user, raw, ttl)
    except Exception:  # the list is still answered; only picks/paging are lost
        log.warning("conversation state not saved user=%s", ctx.user, exc_info=True)


def clear(ctx: Context) -> None:
    try:
        ctx.state.delete(STATE_PREFIX + ctx.user)
    except Exception:
        log.warning("conversation state not cleared user=%s", ctx.user, exc_info=True)


@dataclass
class Item:
    id: int
    title: str
    summary: str


def _nbytes(s: str) -> int:
    return len(s.encode("utf-8"))


def _one_line(s: str) -> str:
    return " ".join(s.split())


def render(header: str, items: list[Item], first_number: int, footer: str,
           budget: int = TEXT_LIMIT) -> str:
    """``header``, then ``n. title`` and a one-line summary per item, then ``footer``; each item
    gets an equal share of what is left of ``budget`` bytes, so the whole always fits."""
    fixed = _nbytes(header) + _nbytes(footer) + 2 * 2  # the blank lines around the items
    share = max(24, (budget - fixed) // max(1, len(items)) - 1)
    lines = []
    for i, it in enumerate(items):
        head = clip_bytes(f"{first_number + i}. {_one_line(it.title)}", share)
        summary = clip_chars(_one_line(it.summary), SUMMARY_CHARS)
        room = share - _nbytes(head) - 1
        summary = clip_bytes(summary, room) if room >= 12 else ""
        lines.append(head + ("\n" + summary if summary else ""))
    return f"{header}\n\n" + "\n".join(lines) + f"\n\n{footer}"


def fetch(ctx: Context, listing: Listing, page: int) -> tuple[list[Item], bool, Any]:
    """Items of ``page`` of ``listing``, whether it is the last page, and the search results
    (``None`` for latest lists). ``listing.total`` is refreshed from the search."""
    size = page_size(ctx.config)
    if listing.kind == "digest":
        from handlers import today  # here: handlers.today imports this module

        items, last = today.fetch(ctx, listing, page)
        return items, last, None
    if listing.kind == "search":
        res = search_cache.search(ctx.shared.search_cache, ctx.store, listing.query, size, page * size)
        listing.total, listing.mode = res.total, res.mode
        chinese = any("\u4e00" <= ch <= "\u9fff" for ch in listing.query)
        listing.subject = list(res.subject) if chinese else []  # a Latin query is named whole
        listing.corrected = [[c.typed, c.found] for c in res.corrected]
        items = [Item(h.article_id, h.title, h.summary) for h in res.hits]
        return items, page * size + len(items) >= res.total, res
    rows = newest(ctx, listing.category, size + 1, page * size)
    items = [Item(int(a.id), a.title, a.summary) for a in rows[:size]]
    return items, len(rows) <= size, None


def newest(ctx: Context, category: str, limit: int, offset: int = 0) -> list[articles.Article]:
    """``articles.latest``, kept with the process's search cache until a story changes: a menu
    button's burst of 最新 reads the store once (and on the event loop, where the latest lists
    are answered, a read of a PostgreSQL store is a round trip every message would wait for).
    The stories returned are shared: read them, do not change them."""
    def read() -> list[articles.Article]:
        return articles.latest(ctx.store, limit=limit, category=category or None, offset=offset)

    cache = ctx.shared.search_cache
    if cache is None:
        return read()
    key = ("latest", category, limit, offset)
    found: list[articles.Article] = cache.answer(ctx.store, key, read)
    return found


def header(listing: Listing, page: int, size: int) -> str:
    if listing.kind == "digest":
        from handlers import today  # here: handlers.today imports this module

        return today.header(listing, page, size)
    if listing.kind == "search":
        pages = max(1, -(-listing.total // size))
        where = f"（第 {page + 1}/{pages} 页）" if pages > 1 else ""
        q = clip_bytes(_one_line(listing.query), 60)
        if listing.corrected:
            typed = "、".join(t for t, _ in listing.corrected)
            found = "、".join(f for _, f in listing.corrected)
            return f"没有找到“{typed}”，为您找到“{found}”的新闻 {listing.total} 条{where}："
        if listing.mode == "any":
            return f"没有同时包含{quoted(listing.subject or [q])}的新闻，以下 {listing.total} 条包含其中一部分{where}："
        return f"“{q}”找到 {listing.total} 条新闻{where}："
    what = f"最新{listing.category}报道" if listing.category else "最新报道"
    return f"{what}（第 {page + 1} 页）：" if page else f"{what}："


def quoted(words: list[str]) -> str:
    """“郭龙生”“事迹”: the words a reader asked about, each in quotes."""
    return "".join(f"“{clip_bytes(w, 30)}”" for w in words[:4])


def footer(listing: Listing, last: bool) -> str:
    n = len(listing.ids)
    hint = "回复 1 查看摘要和链接" if n == 1 else f"回复序号（1–{n}）查看摘要和链接"
    if last:
        return hint + "。\n以上是全部结果。" if listing.page else hint + "。"
    return hint + "；回复“下一页”或“更多”看后面的。"


def page_text(ctx: Context, listing: Listing, page: int, items: list[Item], last: bool) -> str:
    """Render ``page`` (already fetched), noting its items in ``listing`` (not saved)."""
    size = page_size(ctx.config)
    listing.remember(page, [it.id for it in items], size)
    listing.last = last
    return render(header(listing, page, size), items, page * size + 1, footer(listing, last))


def present(ctx: Context, listing: Listing, page: int, items: list[Item], last: bool) -> str:
    """Render ``page`` (already fetched) and remember it as the user's current list."""
    text = page_text(ctx, listing, page, items, last)
    save(ctx, listing)
    return text


def show(ctx: Context, listing: Listing, page: int) -> str | None:
    """Fetch, render and remember ``page``; ``None`` when there is nothing on it."""
    items, last, _ = fetch(ctx, listing, page)
    if not items:
        return None
    return present(ctx, listing, page, items, last)
