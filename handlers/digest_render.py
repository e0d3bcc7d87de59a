"""Digest texts: one customer-service message per recipient, one mass text per category.

Both stay within the platform's text limit (the same byte budget as passive replies): stories
are listed newest first while they fit, and what does not fit is announced with the keyword
that shows it ("最新党建"), so a long day never produces a clipped link.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from handlers.base import TEXT_LIMIT, clip_bytes
from store.categories import CATEGORIES

LATEST_KEYWORD = {c: f"最新{c}" for c in CATEGORIES}  # what handlers.latest answers with a list


@dataclass(frozen=True)
class Story:
    id: int
    title: str
    url: str
    categories: tuple[str, ...]


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cs_line(i: int, s: Story) -> str:
    # Customer-service text may carry links; the title is the link text.
    href, title = html.escape(s.url, quote=True), html.escape(s.title, quote=False)
    return f'{i}. <a href="{href}">{title}</a>'


def _mass_line(i: int, s: Story) -> str:
    return f"{i}. {s.title}\n{s.url}"


def _more(category: str, n: int) -> str:
    return f"…另有 {n} 篇，回复“{LATEST_KEYWORD.get(category, '最新')}”查看"


def _fit(
    head: str,
    sections: Sequence[tuple[str, Sequence[Story]]],
    line: object,
    foot: str,
    limit: int,
) -> str:
    """``head``, then each category's stories while they fit, then ``foot``, within ``limit``."""
    out = [head]
    used = _size(head) + _size(foot) + 2
    for category, stories in sections:
        title = f"\n【{category}】"
        if used + _size(title) + _size(_more(category, len(stories))) + 1 > limit:
            break
        out.append(title)
        used += _size(title) + 1
        for i, s in enumerate(stories, 1):
            entry = line(i, s)  # type: ignore[operator]
            left = len(stories) - i
            reserve = _size(_more(category, left)) + 1 if left else 0
            if used + _size(entry) + 1 + reserve > limit:
                out.append(_more(category, len(stories) - i + 1))
                used += _size(out[-1]) + 1
                break
            out.append(entry)
            used += _size(entry) + 1
    out.append("\n" + foot)
    return clip_bytes("\n".join(out).strip(), limit)  # a safety net: the fitting never needs it


def customer_service_text(
    by_category: dict[str, list[Story]], categories: Sequence[str], limit: int | None = None
) -> str:
    """The one message a subscriber of ``categories`` gets."""
    cats = [c for c in categories if by_category.get(c)]
    n = sum(len(by_category[c]) for c in cats)
    head = f"今日{'、'.join(cats)}新闻（{n} 篇）："
    foot = "回复关键词搜索更多；回复“退订”取消订阅。"
    return _fit(head, [(c, by_category[c]) for c in cats], _cs_line, foot, limit or TEXT_LIMIT)


def mass_text(by_category: dict[str, list[Story]], category: str, limit: int | None = None) -> str:
    """The text mass-sent to a category's tag (plain links: not every client renders tags)."""
    stories = by_category.get(category, [])
    head = f"今日{category}新闻（{len(stories)} 篇）："
    foot = "回复关键词搜索更多新闻。"
    return _fit(head, [(category, stories)], _mass_line, foot, limit or TEXT_LIMIT)
