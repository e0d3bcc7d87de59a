"""One article out of a web page's HTML, with trafilatura (boilerplate, menus and comments off).

Bylines in the text (记者 X 通讯员 Y, 本报讯（记者 X）) become authors, as on printed pages; the
page's own title, canonical URL and date come from its metadata.
"""

from __future__ import annotations

import logging
import re

from store.articles import Article
from store.ingest_blocks import BENBAO, byline_names, classify_line
from store.text import squeeze
from store.webfetch import FetchError, fetch_html

log = logging.getLogger(__name__)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TITLE_MAX = 64  # characters of a title, as the admins' #添加 takes them


def extract_html(html: str, url: str | None = None) -> Article | None:
    """The article in ``html`` (not saved), or None when the page holds no article text."""
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
        text = BENBAO.sub("", text).strip() if u.benbao else text
        if text:
            body.append(text)
    if not body:
        return None
    if not title:
        title = body[0][:30]
    date = str(data.get("date") or "")
    page_url = url or data.get("url") or None
    return Article(
        title=title, body=body, authors=authors, captions=captions,
        url=page_url, source=page_url or "", published=date if _ISO_DATE.match(date) else None,
    )



def article_from_url(url: str, *, timeout: float, max_bytes: int,
                     allow_private: bool = False) -> Article:
    """The story at ``url`` (not saved), fetched within the limits given ([admin] fetch_*) and
    extracted, with the address readers are sent to (after redirects); FetchError says why
    there is none."""
    page = fetch_html(url, timeout=timeout, max_bytes=max_bytes, allow_private=allow_private)
    a = extract_html(page.html, url)
    if a is None or not a.title.strip() or not a.body:
        raise FetchError("没能从该网页提取出文章正文（可能不是文章页）。", paste=True)
    a.url = page.url
    a.title = a.title.strip()[:TITLE_MAX]
    return a
