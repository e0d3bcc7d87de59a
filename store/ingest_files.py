"""Page import, the files: reading a page, an HTML article or an export, and refusing bad input
(empty, binary, not UTF-8, too large) with a message a user can act on."""

from __future__ import annotations

import json
from pathlib import Path

from store.articles import Article, BadAddress, web_url
from store.extract import extract_html, not_an_article

MAX_BYTES = 2_000_000  # a page of text is ~20 KB; anything this big is not a page
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}


class IngestError(Exception):
    """Bad input: empty, binary, not UTF-8, too large, or no story in it. User-facing message."""


def decode_page(data: bytes, name: str = "page") -> str:
    """The text of a page file, or IngestError saying plainly what is wrong with it."""
    if len(data) > MAX_BYTES:
        raise IngestError(
            f"{name}: {len(data) / 1e6:.1f} MB is too large for a page (limit {MAX_BYTES / 1e6:.0f} MB)"
        )
    if not data.strip():
        raise IngestError(f"{name}: the file is empty")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise IngestError(f"{name}: the file is UTF-16; save it as UTF-8")
    head = data[:8192]
    if b"\x00" in head or sum(b < 9 or 13 < b < 32 for b in head) > len(head) // 100 + 2:
        raise IngestError(f"{name}: this is a binary file, not a text page")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
    except UnicodeDecodeError:
        raise IngestError(f"{name}: the file is not UTF-8 text") from None
    raise IngestError(
        f"{name}: the file is not UTF-8 (it reads as GBK/GB18030); convert it first, e.g. "
        f"iconv -f GB18030 -t UTF-8 {name} > page.txt"
    )


def read_page(path: str | Path) -> str:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            return decode_page(b"\0" * (MAX_BYTES + 1), p.name)  # raises: too large
        data = p.read_bytes()
    except OSError as e:
        raise IngestError(f"{p}: cannot read: {e.strerror or e}") from None
    return decode_page(data, p.name)


def load_file(path: str | Path) -> list[Article]:
    """The stories in one file: a page (.txt), an article page (.html) or an export (.jsonl)."""
    p = Path(path)
    suffix = p.suffix.lower()
    text = read_page(p)
    if suffix in HTML_SUFFIXES:
        a = extract_html(text)
        if a is None:
            raise IngestError(f"{p.name}: no article found in this HTML page")
        a.title = a.title or a.body[0][:30]  # a saved page may have lost its <title>
        if not_an_article(a):
            chars = sum(len(x) for x in a.body)
            raise IngestError(f"{p.name}: no article in this HTML page (title {a.title!r}, "
                              f"{chars} characters of text)")
        a.source = p.name
        return [a]
    if suffix in JSONL_SUFFIXES:
        return articles_from_jsonl(text, p.name)
    from store.ingest import parse_page  # here: store.ingest imports this module

    return parse_page(text, p.name)


def articles_from_jsonl(text: str, name: str = "export") -> list[Article]:
    """Stories from ``newsbot export`` output, one JSON object a line."""
    out: list[Article] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise IngestError(f"{name}, line {n}: not JSON ({e.msg})") from None
        if not isinstance(data, dict) or not str(data.get("title") or "").strip():
            raise IngestError(f"{name}, line {n}: a story needs at least a title")
        data = {k: v for k, v in data.items() if k in Article.__dataclass_fields__}
        data.pop("id", None)
        for k in ("authors", "body", "captions", "categories", "edited"):
            if not isinstance(data.get(k, []), list):
                raise IngestError(f"{name}, line {n}: {k} must be a list")
        try:
            data["url"] = web_url(data.get("url"), "url") or None
            data["picurl"] = web_url(data.get("picurl"), "picurl")
        except BadAddress as e:
            raise IngestError(f"{name}, line {n}: {e}") from None
        out.append(Article(**data))
    if not out:
        raise IngestError(f"{name}: no stories in this export")
    return out
