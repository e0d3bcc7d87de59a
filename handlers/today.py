"""今日: today's digest as a passive reply, for a reader's categories (or all of them).

"今天有什么新闻", "今日", "今日要闻", "今日党建" answer with the stories of today's edition as a
numbered list to page through and pick from. A passive reply costs no push quota and reaches
readers the daily push skips (outside the 48-hour customer-service window).

Today's edition is, first that applies: the digest that went out today; else the stories the
next digest would carry (added since the last one); else the last digest that carried stories,
under its own date. With none of these, the reply says so and points to 最新.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from handlers import digest, listing
from handlers.base import END, Context, Message, Reply, Routes
from handlers.digest_render import Story, day_label, printed, sections
from store import articles, pushlog, subscribers

routes = Routes()


@dataclass
class Today:
    day: date
    fresh: bool  # added since the last digest (not yet pushed)
    by_category: dict[str, list[int]]


def _last_with_stories(store: Any) -> pushlog.Digest | None:
    return next((d for d in pushlog.recent(store, 20) if d.article_ids), None)


def edition(store: Any, config: Any) -> Today | None:
    """Today's edition (see the module's docstring); ``None`` when there is none."""
    last = _last_with_stories(store)
    today = digest.edition(config).day
    if last is not None and digest.edition(config, last.started_at).day == today:
        return Today(today, False, _layout(last))
    _, fresh = digest.fresh_ids(store)
    if any(fresh.values()):
        return Today(today, True, fresh)
    if last is not None:
        return Today(digest.edition(config, last.started_at).day, False, _layout(last))
    return None


def _layout(d: pushlog.Digest) -> dict[str, list[int]]:
    plan = d.report.get("plan") or {}
    return {c: [int(i) for i in plan.get(c, [])] for c in digest.CATEGORIES}


def categories_of(ctx: Context, category: str) -> list[str]:
    """The one asked for, else the reader's subscriptions, else all."""
    if category:
        return [category]
    sub = subscribers.get(ctx.store, ctx.user)
    return list(sub.categories) if sub and sub.categories else list(digest.CATEGORIES)


def edition_ids(ctx: Context, cats: list[str]) -> tuple[Today | None, list[int]]:
    """Today's edition and its stories for ``cats``, each once, in the digest's order."""
    t = edition(ctx.store, ctx.config)
    if t is None:
        return None, []
    stub = {c: [Story(i, "", "", (c,)) for i in ids] for c, ids in t.by_category.items()}
    return t, [s.id for _, v in sections(stub, cats) for s in v]


def header(listing_: listing.Listing, page: int, size: int) -> str:
    """``12月7日新收录党建、社区报道 12 篇（第 1/2 页）：`` (``query`` holds the edition's day)."""
    day = date.fromisoformat(listing_.query)
    pages = max(1, -(-listing_.total // size))
    where = f"（第 {page + 1}/{pages} 页）" if pages > 1 else ""
    cats = listing_.category.replace(",", "、")
    return f"{day_label(day)}新收录{cats}报道 {listing_.total} 篇{where}："


def fetch(ctx: Context, listing_: listing.Listing, page: int) -> tuple[list[listing.Item], bool]:
    """The items of ``page`` of today's edition for the listing's categories."""
    size = listing.page_size(ctx.config)
    t, ids = edition_ids(ctx, listing_.category.split(","))
    listing_.total = len(ids)
    day = t.day if t else date.today()
    listing_.query = day.isoformat()
    chosen = articles.many(ctx.store, ids[page * size:(page + 1) * size])
    items = [listing.Item(int(a.id or 0), a.title + printed(a.published, day), a.summary)
             for a in chosen]
    return items, (page + 1) * size >= len(ids)


def _nothing(cats: list[str]) -> str:
    what = "、".join(cats) if len(cats) == 1 else ""
    return (f"今天还没有新收录的{what}新闻。发送“最新{what}”看最近的报道，"
            "或发送关键词搜索。")


_TODAY = (r"(?:今天|今日)(?:的|有)?(?:有什么|有啥|都有什么)?(党建|社区)?的?"
          r"(?:要闻|新闻|报道|消息|动态|摘要)?") + END


@routes(regex=_TODAY, priority=41)
def today(msg: Message, ctx: Context) -> Reply:
    category = ctx.match.group(1) if ctx.match and ctx.match.group(1) else ""
    cats = categories_of(ctx, category)
    state = listing.Listing(kind="digest", category=",".join(cats))
    shown = listing.show(ctx, state, 0)
    return shown if shown is not None else _nothing(cats)
