"""Search: any text no other route claims is a query; numbers pick, 下一页 / 更多 page on,
第2页 jumps.

One clear winner (the only match, or a top score at least ``WINNER_RATIO`` times the next one
on a search that matched every term) is answered with a news card; several hits with a
numbered list the user can page through and pick from (see ``handlers.listing``).
"""

from __future__ import annotations

import logging
from typing import Any

from handlers import fallback, listing, related, rules
from handlers.base import (
    DESCRIPTION_LIMIT,
    END,
    TEXT_LIMIT,
    Context,
    Message,
    Reply,
    Routes,
    clip_bytes,
    clip_chars,
)
from handlers.search_cache import SearchCache
from store import articles
from store.articles import Article
from store.db import Store, now_iso
from store.search import SearchResults
from store.segment import cut_for_query

log = logging.getLogger("newsbot.search")
routes = Routes()

WINNER_RATIO = 2.0
QUERY_LOG_CHARS = 200

NOTHING_FOUND = (
    "没有找到与“{q}”相关的新闻。\n"
    "可以试试：\n"
    "· 换一个更短的词，如 {examples}\n"
    "· 发送“最新”看最新报道（或“最新党建”“最新社区”）\n"
    "· 发送“帮助”查看全部用法"
)
FALLBACK_EXAMPLES = ("网格员", "养老", "主题教育")
_GENERIC = frozenset(["开展", "活动", "工作", "推进", "推动", "群众", "服务", "建设", "提升", "发展", "持续", "进一步"])


def headline_words(store: object) -> list[list[str]]:
    """Words fit for a hint from each of the newest headlines (Chinese, 2-5 characters, not
    generic), in order."""
    return [
        [
            w
            for w in cut_for_query(a.title)
            if 2 <= len(w) <= 5 and w not in _GENERIC and all("\u4e00" <= ch <= "\u9fff" for ch in w)
        ]
        for a in articles.latest(store, limit=12)  # type: ignore[arg-type]
    ]


def suggestions(
    store: Store, query: str, n: int = 3, cache: SearchCache | None = None
) -> list[str]:
    """A few words from the newest headlines, so the hint names things the store really has
    (one per headline). The headlines' words are kept with the process's search cache."""
    per_title = (
        cache.derived(store, "headline-words", lambda: headline_words(store))
        if cache is not None
        else headline_words(store)
    )
    seen: list[str] = []
    for words in per_title:
        for w in words:
            if w not in query and w not in seen:
                seen.append(w)
                break
        if len(seen) == n:
            return seen
    return seen + [w for w in FALLBACK_EXAMPLES if w not in seen and w not in query][: n - len(seen)]


class NothingFound(str):
    """The answer to a search that found nothing (the default reply may stand in for it)."""


NO_LIST = "请先发送关键词搜索（如“养老”），或发送“最新”，再回复序号查看详情。"
NO_PAGES = "没有可以翻页的列表（列表保留 {minutes} 分钟）。请重新发送关键词，或发送“最新”。"



def _minutes(ctx: Context) -> int:
    return max(1, round(ctx.config.state["session_ttl"] / 60))


def log_query(ctx: Context, query: str, hits: int) -> None:
    """One row per query for the admins' statistics, once the message is ours (a retry
    handled twice counts once); a failure must not cost the reply."""
    ctx.once_ours(_query_row, ctx.store, ctx.user, query, hits)


def _query_row(store: Any, user: str, query: str, hits: int) -> None:
    try:  # queued: the reply does not wait for the disk (rows land within a second)
        store.write_later(
            'INSERT INTO query_log (at, "user", "query", hits) VALUES (?, ?, ?, ?)',
            (now_iso(), user, query[:QUERY_LOG_CHARS], hits),
        )
    except Exception:  # statistics are best effort
        log.exception("query log failed user=%s", user)


def clear_winner(res: SearchResults) -> bool:
    hits = res.hits
    if not hits:
        return False
    if res.total == 1:
        return True
    if res.mode != "all" or len(hits) < 2:
        return False
    top, second = hits[0].score, hits[1].score
    return top > 0 and top >= WINNER_RATIO * max(second, 0.0)


def run_search(ctx: Context, query: str) -> Reply:
    """The first page of ``query`` (a list, a card, or "nothing found"), kept as the user's
    list. The answer is the same for every user who sends the same text, so the process's
    cache keeps it with the pages, list included, until the stories change."""
    query = " ".join(query.split())
    size = listing.page_size(ctx.config)
    cache = ctx.shared.search_cache
    if cache is None:
        reply, kept, total = _first_page(ctx, query)
    else:
        reply, kept, total = cache.answer(ctx.store, (query, size), lambda: _first_page(ctx, query))
    log_query(ctx, query, total)
    if kept is not None:  # nothing found: the list the reader was paging through stays
        listing.save(ctx, kept)
    return reply


def asked_about(query: str, subject: list[str]) -> str:
    """What a reply names as asked for: the words of a Chinese question (有没有关于养老的报道
    is about 养老), else the text as typed."""
    if subject and any("\u4e00" <= ch <= "\u9fff" for ch in query):
        return "、".join(subject)
    return query


def _first_page(ctx: Context, query: str) -> tuple[Reply, str | None, int]:
    """The answer to ``query``, the list it leaves (``None``: no list) and the match count."""
    state = listing.Listing(kind="search", query=query)
    items, last, res = listing.fetch(ctx, state, 0)
    if not items:
        found = NothingFound(NOTHING_FOUND.format(
            q=clip_bytes(asked_about(query, res.subject), 60),
            examples="、".join(suggestions(ctx.store, query, cache=ctx.shared.search_cache)),
        ))
        return found, None, res.total
    if clear_winner(res) and not res.corrected:  # a correction is said in a list's header
        a = articles.get(ctx.store, items[0].id)
        if a is not None:
            return _winner_card(ctx, state, a, res.total), listing.dump(state), res.total
    return listing.page_text(ctx, state, 0, items, last), listing.dump(state), res.total


def _winner_card(ctx: Context, state: listing.Listing, a: Article, total: int) -> Reply:
    """The card; the others stay one "更多" away (page -1 is "the card was shown")."""
    c = listing.card(ctx.config, a)
    if total > 1:
        more = f"（另有 {total - 1} 条相关，回复“更多”查看）"
        c.description = clip_chars(c.description, DESCRIPTION_LIMIT - len(more)) + more
    state.ids, state.page, state.last = [int(a.id or 0)], -1, total <= 1
    return c


def cached(msg: Message, ctx: Context) -> bool:
    """A search is quick when its first page is in the process's cache (a burst of the same
    keyword); a search that must run the engine goes to a thread."""
    cache = ctx.shared.search_cache
    return cache is not None and cache.has(msg.content, listing.page_size(ctx.config), 0)


@routes.default(quick=cached)
def search(msg: Message, ctx: Context) -> Reply:
    """A search; when it finds nothing (or the text is only stickers), the console's default
    reply if the account has one."""
    if fallback.is_emoticon(msg.content):
        return rules.default_reply(msg, ctx) or fallback.NOT_UNDERSTOOD
    reply = run_search(ctx, msg.content)
    if isinstance(reply, NothingFound):
        return rules.default_reply(msg, ctx) or reply
    return reply


# A pick searches for the story's related ones: not quick, it goes to a thread
@routes(regex=r"(\d{1,4})" + END, priority=30)
def pick(msg: Message, ctx: Context) -> Reply:
    """A number: that story of the list shown. Long numbers (643, 2019) that are not in the
    list are searched like any other word."""
    digits = ctx.match.group(1) if ctx.match else msg.content.strip()
    return _pick(ctx, digits, int(digits))


_SAID = listing.SAID
_CHINESE_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
                   "八": 8, "九": 9}


def _said_number(text: str) -> int | None:
    """A number written in digits or in Chinese numerals up to 九十九."""
    if text.isdecimal():  # (isdigit would take ² too, which int() refuses)
        return int(text)
    if "十" not in text:
        return _CHINESE_DIGITS.get(text)
    tens, _, ones = text.partition("十")  # 十二 = 12, 二十 = 20, 二十三 = 23
    t = _CHINESE_DIGITS.get(tens) if tens else 1
    o = _CHINESE_DIGITS.get(ones) if ones else 0
    return None if t is None or o is None else t * 10 + o


@routes(regex=rf"(?:第\s*{_SAID}\s*[条篇个]?|(\d{{1,3}})\s*[条篇号]){END}", priority=30)
def pick_said(msg: Message, ctx: Context) -> Reply:
    said = (ctx.match.group(1) or ctx.match.group(2)) if ctx.match else ""
    n = _said_number(said)
    if n is None:
        return "请回复列表前的序号，如 1、2。"
    return _pick(ctx, str(n), n)


def _pick(ctx: Context, digits: str, n: int) -> Reply:
    state = listing.load(ctx)
    if state is None or not state.ids:
        return run_search(ctx, digits) if len(digits) > 2 else NO_LIST
    if not 1 <= n <= len(state.ids) or not state.ids[n - 1]:
        if len(digits) > 2:
            return run_search(ctx, digits)
        if state.page == -1 and not state.last:  # a card was shown; the rest is one "更多" away
            return f"刚才只展示了 1 条。请先回复“更多”查看全部 {state.total} 条，再回复序号。"
        return f"没有第 {n} 条。{_numbers_hint(len(state.ids))}，或发送新的关键词。"
    a = articles.get(ctx.store, state.ids[n - 1])
    if a is None:
        return "这条新闻已经下线了。请回复其他序号，或发送新的关键词。"
    listing.save(ctx, state)  # picking keeps the list alive
    text = a.summary_long or a.summary
    story = f"【{a.title}】\n{text}\n\n阅读全文：{listing.article_url(ctx.config, a)}"
    more = related.text_block(ctx, a, TEXT_LIMIT - len(story.encode("utf-8")) - 2)
    return f"{story}\n\n{more}" if more else story


@routes(regex=r"(?i:下一页吧?|下页|更多|next|more|换一批|再来点?|还有吗?|还有呢|继续|接着看)" + END,
        priority=40)
def next_page(msg: Message, ctx: Context) -> Reply:
    return _turn(ctx, +1)


@routes(regex=r"(?i:上一页|上页|prev)" + END, priority=40)
def previous_page(msg: Message, ctx: Context) -> Reply:
    return _turn(ctx, -1)


@routes(regex=rf"第\s*{_SAID}\s*页{END}", priority=40)
def jump_to_page(msg: Message, ctx: Context) -> Reply:
    n = _said_number(ctx.match.group(1)) if ctx.match else None
    state = listing.load(ctx)
    if state is None:
        return NO_PAGES.format(minutes=_minutes(ctx))
    if n is None or n < 1:
        return "请回复“第2页”这样的页码，或“下一页”“上一页”。"
    size = listing.page_size(ctx.config)
    if state.kind == "search" and state.total and (n - 1) * size >= state.total:
        pages = -(-state.total // size)
        if pages == 1:
            return "结果只有 1 页，都在上面了。回复序号查看详情，或发送新的关键词。"
        return f"一共只有 {pages} 页。回复“第{pages}页”看最后一页，或发送新的关键词。"
    shown = listing.show(ctx, state, n - 1)
    if shown is None:
        return f"没有第 {n} 页。回复“上一页”往回看，或发送新的关键词。"
    return shown


def _turn(ctx: Context, step: int) -> Reply:
    state = listing.load(ctx)
    if state is None:
        return NO_PAGES.format(minutes=_minutes(ctx))
    if step > 0 and state.last:
        return _at_end(state)
    page = state.page + step
    if page < 0:
        if state.last:
            return "结果只有这一页，都在上面了。回复序号查看详情，或发送新的关键词。"
        return "已经是第一页了。回复“下一页”或“更多”往后看。"
    shown = listing.show(ctx, state, page)
    if shown is None:
        # the list shrank since (stories removed): the previous page was the last one
        state.last = True
        listing.save(ctx, state)
        return _at_end(state)
    return shown


def _numbers_hint(n: int) -> str:
    """How to pick from a list of ``n``: "请回复 1" for one story, else the range."""
    return "列表里只有 1 条，请回复 1" if n == 1 else f"请回复 1–{n} 之间的序号"


def _at_end(state: listing.Listing) -> str:
    what = {"search": f"“{state.query}”的结果", "digest": "今天新收录的报道"}.get(
        state.kind, "最新报道")
    n = state.total if state.kind in ("search", "digest") else len(state.ids)
    total = f"（共 {n} 条）" if n else ""
    where = "已经是最后一页了" if state.page > 0 else "结果只有这一页"
    pick = "回复 1 查看详情" if n == 1 else "回复序号查看详情"
    return f"{where}，{what}都在上面{total}。\n{pick}，或发送新的关键词。"
