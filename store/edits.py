"""What an editor types, read into a story's fields: the same rules for the account (``#改``,
``#改正文``) and the command line (``newsbot edit``), so both accept and refuse the same values.

Each reader returns the value to store or raises :class:`EditError`, which carries the reason in
Chinese for the account and in English for the command line.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from store.articles import BadAddress, web_url
from store.db import StoreError
from store.extract import TITLE_MAX
from store.ingest_blocks import byline_names, is_byline

LINE_MAX = 200  # characters of a subtitle or kicker
SUMMARY_MAX = 300
AUTHORS_MAX = 12

# The words an editor uses for each field (the first is the one replies show).
FIELD_WORDS: dict[str, tuple[str, ...]] = {
    "title": ("标题", "题目"),
    "subtitle": ("副题", "副标题"),
    "kicker": ("引题", "肩题", "眉题"),
    "authors": ("作者", "署名", "记者"),
    "published": ("日期", "时间", "发布日期"),
    "url": ("链接", "网址", "原文"),
    "summary": ("摘要", "简介"),
    "picurl": ("封面", "配图", "图片"),
}
LABELS = {name: words[0] for name, words in FIELD_WORDS.items()} | {"body": "正文"}


class EditError(StoreError):
    """A value an editor gave cannot be stored; ``zh`` for the account, ``str(e)`` in English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh


def field_of(word: str) -> str | None:
    """The field an editor's word names (标题, 副题, title…), or None."""
    w = word.strip().casefold()
    for name, words in FIELD_WORDS.items():
        if w == name or w in words:
            return name
    return None


_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_NAMES_SPLIT = re.compile(r"[\s、，,;；/]+")


def read_date(text: str) -> str:
    m = _DATE.fullmatch(text.strip())
    try:
        if m is None:
            raise ValueError
        return date(*(int(g) for g in m.groups())).isoformat()
    except ValueError:
        raise EditError(f"日期“{text}”看不懂，请写成 2024-07-02 或 2024年7月2日。",
                        f"{text!r} is not a date (write 2024-07-02)") from None


def read_authors(text: str) -> list[str]:
    """Names, or a byline as printed (记者 王磊 通讯员 赵敏); empty clears the authors."""
    text = text.strip()
    names = byline_names(text) if is_byline(text) else [n for n in _NAMES_SPLIT.split(text) if n]
    if len(names) > AUTHORS_MAX or any(len(n) > 20 for n in names):
        raise EditError("作者请写姓名，用顿号或空格分开，如：王磊、赵敏。",
                        "authors: give names separated by spaces or 、, e.g. 王磊 赵敏")
    return list(dict.fromkeys(names))


def _line(text: str, limit: int, zh: str, en: str, required: bool = False) -> str:
    value = " ".join(text.split())
    if required and not value:
        raise EditError(f"{zh}不能为空。", f"the {en} cannot be empty")
    if len(value) > limit:
        raise EditError(f"{zh}太长（{len(value)} 字，上限 {limit} 字）。",
                        f"the {en} is too long ({len(value)} characters, at most {limit})")
    return value


def read_value(name: str, text: str) -> Any:
    """The value of field ``name`` typed as ``text``, ready for ``articles.edit``."""
    if name == "title":
        return _line(text, TITLE_MAX, "标题", "title", required=True)
    if name in ("subtitle", "kicker"):
        return _line(text, LINE_MAX, LABELS[name], name)
    if name == "summary":
        return _line(text, SUMMARY_MAX, "摘要", "summary")
    if name == "authors":
        return read_authors(text)
    if name == "published":
        return read_date(text) if text.strip() else None
    if name in ("url", "picurl"):
        try:
            value = web_url(text, name)
        except BadAddress:
            raise EditError(f"{LABELS[name]}只接受 http:// 或 https:// 开头的网址。",
                            f"{text.strip()!r} is not a web address (http:// or https://)"
                            ) from None
        return value or (None if name == "url" else "")
    raise EditError(f"不能这样修改“{name}”。", f"{name} cannot be edited this way")


def read_body(text: str) -> list[str]:
    """A whole new body: one paragraph a line."""
    paragraphs = [p.strip() for p in text.splitlines() if p.strip()]
    if not paragraphs:
        raise EditError("正文不能为空。", "the body cannot be empty")
    return paragraphs


def set_paragraph(body: list[str], number: int, text: str) -> list[str]:
    """``body`` with paragraph ``number`` (from 1) replaced by ``text``; one past the last adds
    a paragraph; ``text`` 删除 (or ``-``) removes it."""
    text = " ".join(text.split())
    if not 1 <= number <= len(body) + 1 or (number == len(body) + 1 and text in ("删除", "-")):
        raise EditError(f"没有第 {number} 段（正文共 {len(body)} 段）。",
                        f"there is no paragraph {number} (the body has {len(body)})")
    if not text:
        raise EditError("缺少新的段落文字。", "the new paragraph text is missing")
    out = list(body)
    if text in ("删除", "-"):
        if len(out) == 1:
            raise EditError("正文只剩这一段，不能删除。", "the only paragraph cannot be removed")
        del out[number - 1]
    elif number == len(body) + 1:
        out.append(text)
    else:
        out[number - 1] = text
    return out
