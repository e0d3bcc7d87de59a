"""One article out of a web page's HTML, with trafilatura (boilerplate, menus and comments off).

Bylines in the text (记者 X 通讯员 Y, 本报讯（记者 X）) become authors, as on printed pages; the
page's own title, canonical URL and date come from its metadata.
"""

from __future__ import annotations

import logging
import re
from typing import NamedTuple

from store.articles import Article
from store.ingest_blocks import BENBAO, byline_names, classify_line
from store.text import squeeze
from store.webfetch import FetchError, fetch_html

log = logging.getLogger(__name__)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TITLE_MAX = 64  # characters of a title, as the admins' #添加 takes them
ARTICLE_MIN_CHARS = 80  # characters of text (no spaces or punctuation) a web article has at least
_NOT_TEXT = re.compile(r"[\W_]+")


class Lines(NamedTuple):
    authors: list[str]
    body: list[str]
    captions: list[str]


def read_lines(lines: list[str], *, keep_benbao: bool = False) -> Lines:
    """A story's lines read as the page import reads them: byline lines and bylines glued to a
    paragraph (记者 王磊 通讯员 赵敏, 本报讯（记者 X）) become authors, photo captions with a
    credit go apart, credits and footers go. ``keep_benbao`` keeps 本报讯 opening a line."""
    authors: list[str] = []
    body: list[str] = []
    captions: list[str] = []
    for line in lines:
        u = classify_line(line, 1, 0)
        if u.kind == "byline":
            authors += [n for n in byline_names(u.text) if n not in authors]
            continue
        if u.kind in ("credit", "footer"):
            continue
        if u.credit:
            captions.append(f"{u.text} {u.credit}")
            continue
        if u.byline:
            authors += [n for n in byline_names(u.byline) if n not in authors]
        text = u.text if u.benbao or u.byline else line
        if u.benbao:
            text = BENBAO.sub("", text).strip()
            if keep_benbao and text:
                text = f"{re.split(r'[（(]', u.benbao)[0]} {text}"
        if text:
            body.append(text)
    return Lines(authors, body, captions)


def extract_html(html: str, url: str | None = None) -> Article | None:
    """The article in ``html`` (not saved), or None when the page holds no article text; the
    title is empty when the page has none."""
    import trafilatura  # here: heavy (lxml and its models), and only HTML imports need it

    try:
        doc = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, include_tables=False,
            favor_recall=True,
        )
    except (ValueError, TypeError, AttributeError, LookupError) as e:  # malformed markup
        log.warning("extract_html: %s: %s", url or "page", e)
        return None
    if doc is None:
        return None
    data = doc if isinstance(doc, dict) else doc.as_dict()
    title = squeeze(str(data.get("title") or ""))
    lines = [squeeze(x) for x in str(data.get("text") or "").splitlines()]
    lines = [x for x in lines if x]
    if lines and title and lines[0] == title:
        lines = lines[1:]
    found = read_lines(lines)
    authors, body, captions = found.authors, found.body, found.captions
    if not body:
        return None
    date = str(data.get("date") or "")
    page_url = url or data.get("url") or None
    return Article(
        title=title, body=body, authors=authors, captions=captions,
        url=page_url, source=page_url or "", published=date if _ISO_DATE.match(date) else None,
        publication=squeeze(str(data.get("sitename") or "")),
    )



def article_from_url(url: str, *, timeout: float, max_bytes: int,
                     allow_private: bool = False) -> Article:
    """The story at ``url`` (not saved), fetched within the limits given ([admin] fetch_*) and
    extracted, with the address readers are sent to (after redirects); FetchError says why
    there is none."""
    page = fetch_html(url, timeout=timeout, max_bytes=max_bytes, allow_private=allow_private)
    a = extract_html(page.html, url)
    refusal = not_an_article(a)
    if refusal:
        raise FetchError(refusal, paste=True)
    assert a is not None
    a.url = page.url
    a.title = a.title.strip()[:TITLE_MAX]
    return a


def not_an_article(a: Article | None) -> str:
    """Why ``a`` is not a story to show readers (no title, or too little text), saying what was
    found; empty when it is one."""
    if a is None or not a.body:
        return "没能从该网页提取出文章正文（可能不是文章页）。"
    chars = sum(len(_NOT_TEXT.sub("", p)) for p in a.body)
    if not a.title.strip():
        return f"该网页没有文章标题（正文 {chars} 字），不像文章页，未保存。"
    if chars < ARTICLE_MIN_CHARS:
        return (f"该网页不像文章页：只找到标题《{a.title.strip()[:TITLE_MAX]}》和 {chars} 字正文"
                f"（至少需要 {ARTICLE_MIN_CHARS} 字），未保存。")
    return ""
