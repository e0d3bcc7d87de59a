"""Article pages: ``GET /articles/{id}`` renders a story as a small, phone-first HTML page.

The reply cards and lists link here when a story has no URL of its own. Everything from the
store is HTML-escaped; an id that is malformed or unknown gets a 404 page in the same look.
The page names its source as readers know it (never an imported file's name), shows the
printed date only (a date the story was filed here would read as its news date), and ends
with the way back to the account's search.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from html import escape
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import urlsplit

from handlers import related
from store import articles, images
from store.articles import SOURCE_STORY

_ID = re.compile(r"[0-9]{1,12}")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_YEAR = re.compile(r"\d{4}")
# a source that is a file's name or an address, not a name a reader would know
_NOT_A_NAME = re.compile(r"\.[A-Za-z0-9]{1,5}$|://|[\\/]")
DEFAULT_SITE_NAME = "党建社区新闻"
SECTION_HEAD_CHARS = 20
_CLOSING = "。！？!?…；;：:，,、”’」』\"')）)"


@lru_cache(maxsize=1)
def _template() -> Template:
    text = (resources.files("handlers") / "templates" / "page.html").read_text(encoding="utf-8")
    return Template(text)


@lru_cache(maxsize=1)
def builtin_cover() -> bytes:
    """The plain cover the bot serves at ``/cover.png`` for cards when the account has set
    no ``[pages] default_cover`` of its own."""
    return (resources.files("handlers") / "templates" / "cover.png").read_bytes()


def site_name(config: Any) -> str:
    pages = getattr(config, "values", {}).get("pages", {})
    return pages.get("site_name") or DEFAULT_SITE_NAME


def display_date(value: str | None) -> str:
    """``2019-06-21...`` as 2019年6月21日; other text (a printed date) as it is."""
    if not value:
        return ""
    if _YEAR.fullmatch(value.strip()):
        return f"{value.strip()}年"
    m = _ISO_DATE.match(value)
    if not m:
        return value.strip()
    y, mo, d = (int(g) for g in m.groups())
    return f"{y}年{mo}月{d}日"


def source_name(config: Any, a: articles.Article) -> str:
    """The source as readers know it: the operator's name for the imported file
    (``[import] sources``), else the masthead or site name found on import, else the site of
    the story's address, else the source as given unless it is a file or an address; or ""."""
    file = re.split(r"[\\/]", a.source or "")[-1]
    sources = getattr(config, "values", {}).get("import", {}).get("sources", {})
    for pattern, name in sources.items():
        if file and fnmatch.fnmatchcase(file, pattern):
            return str(name)
    if a.publication:
        return a.publication
    host = urlsplit(a.url).hostname if a.url else None
    if host:
        return host.removeprefix("www.")
    if a.source and a.source != SOURCE_STORY and not _NOT_A_NAME.search(a.source.strip()):
        return a.source.strip()
    return ""


def _page(config: Any, title: str, content: str, footer: str) -> str:
    name = escape(site_name(config))
    return _template().substitute(
        page_title=escape(title) + " - " + name, site_name=name, content=content, footer=footer
    )


def is_section_head(text: str) -> bool:
    """A printed story's section heads are short lines without closing punctuation."""
    return len(text) <= SECTION_HEAD_CHARS and text[-1] not in _CLOSING


def _paragraphs(items: list[str], heads: bool = False) -> str:
    out = []
    for p in (i.strip() for i in items):
        if not p:
            continue
        if heads and is_section_head(p):
            out.append(f'<h2 class="section">{escape(p)}</h2>')
        else:
            out.append(f"<p>{escape(p)}</p>")
    return "\n".join(out)


def _related(items: list[related.Link]) -> str:
    if not items:
        return ""
    lis = "".join(f'<li><a href="{escape(x.url)}">{escape(x.title)}</a></li>' for x in items)
    return f'<nav class="related" id="related"><h2>{related.HEADING}</h2><ul>{lis}</ul></nav>'


def render_story(config: Any, a: articles.Article, more: list[related.Link] | None = None) -> str:
    source = source_name(config, a)
    meta = []
    if source:
        meta.append(f'<span class="m source">{escape(source)}</span>')
    if a.authors:
        meta.append(f'<span class="m people">{escape("　".join(a.authors))}</span>')
    if a.published:
        meta.append(f'<span class="m date">{escape(display_date(a.published))}</span>')
    tags = "".join(f'<span class="tag">{escape(c)}</span>' for c in a.effective_categories)
    parts = ['<main><article>']
    if a.kicker:
        parts.append(f'<p class="kicker">{escape(a.kicker)}</p>')
    parts.append(f'<h1 id="title">{escape(a.title)}</h1>')
    if a.subtitle:
        parts.append(f'<p class="subtitle">{escape(a.subtitle)}</p>')
    parts.append(f'<div class="meta">{"".join(meta)}{tags}</div>')
    if a.picurl.startswith(("https://", "http://")):
        parts.append(f'<img class="lead-image" src="{escape(a.picurl)}" alt="">')
    parts.append(f'<div class="body" id="body">{_paragraphs(a.body, heads=True)}</div>')
    if a.captions:
        parts.append(
            f'<aside class="captions"><h2>图片说明</h2>{_paragraphs(a.captions)}</aside>'
        )
    parts.append(_related(more or []))
    parts.append("</article>")
    parts.append(f'<p class="more" id="more">回复关键词查看更多：在公众号“{escape(site_name(config))}”'
                 "里发送想看的词，如人名、地名、“养老”“网格员”。</p>")
    parts.append("</main>")
    footer = f"来源：{escape(source)}" if source else escape(site_name(config))
    return _page(config, a.title, "\n".join(parts), footer)


def render_missing(config: Any) -> str:
    content = (
        '<main class="missing"><h1>页面不存在</h1>'
        "<p>这篇报道不存在或已经下线。</p>"
        "<p>回到公众号发送关键词，可以搜索其他新闻。</p></main>"
    )
    return _page(config, "页面不存在", content, escape(site_name(config)))


def render_image(store: Any, raw_id: str) -> tuple[int, str, bytes]:
    """``(status, content type, bytes)`` of a picture kept in the store (a cover an admin sent),
    or a 404 with no body."""
    pic = images.get(store, int(raw_id)) if _ID.fullmatch(raw_id or "") else None
    if pic is None:
        return 404, "text/plain; charset=utf-8", "图片不存在".encode()
    return 200, pic.content_type, pic.data


def render_article_page(store: Any, raw_id: str, config: Any,
                        cache: Any = None) -> tuple[int, str]:
    """``(status, html)`` for the story ``raw_id``: 200 with the story, or 404. ``cache``: the
    process's search cache, which the related stories' searches go through."""
    if not _ID.fullmatch(raw_id or ""):
        return 404, render_missing(config)
    a = articles.get(store, int(raw_id))
    if a is None:
        return 404, render_missing(config)
    return 200, render_story(config, a, related.links(store, config, a, cache))
