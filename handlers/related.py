"""相关报道: after a reader opens a story (picks it from a list, or opens its page from a card),
two or three related stories follow as links, so they can keep reading without typing.

The stories come from store.related (the reader's own search engine, through the process's
search cache); a story with nothing related gets no block rather than a weak one.
"""

from __future__ import annotations

from html import escape
from typing import Any, NamedTuple

from handlers import listing, search_cache
from handlers.base import Context
from store import articles, related
from store.articles import Article

HEADING = "相关报道"


class Link(NamedTuple):
    """A related story as a reader meets it: its title and where it opens."""

    title: str
    url: str


def links(store: Any, config: Any, a: Article, cache: Any = None) -> list[Link]:
    """The related stories of ``a`` with their addresses (a story removed since is skipped)."""
    def run(st: Any, q: str, n: int, off: int) -> Any:
        return search_cache.search(cache, st, q, n, off)

    stories = (cache.derived(store, "stories", lambda: articles.count(store))
               if cache is not None else None)
    found = related.related(store, a, search=run, stories=stories)
    return [Link(b.title, listing.article_url(config, b))
            for b in articles.many(store, [r.article_id for r in found])]


def text_block(ctx: Context, a: Article, room: int) -> str:
    """The related stories as text-message links, within ``room`` UTF-8 bytes ("" when none
    fits or none is found)."""
    found = links(ctx.store, ctx.config, a, ctx.shared.search_cache)
    lines = [f'· <a href="{escape(x.url, quote=True)}">{escape(x.title, quote=False)}</a>'
             for x in found]
    while lines:
        block = f"{HEADING}：\n" + "\n".join(lines)
        if len(block.encode("utf-8")) <= room:
            return block
        lines.pop()
    return ""
