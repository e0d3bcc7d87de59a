"""Digest texts: one customer-service message per recipient, one mass text per category.

What a subscriber reads: the day the digest goes out, how many distinct stories it carries,
then the stories under their category's heading, each story once (a story of both categories
stands under the first heading the subscriber takes). The first stories carry a line of their
summary; a story printed on another day says when. Each heading lists at most ``cap`` stories;
the rest are counted with the keyword that lists them all ("今日党建"), so none is dropped
silently. The whole text stays within the platform's text limit: teaser lines go first, then
stories from the longest section, and what no longer fits is counted the same way.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from handlers.base import TEXT_LIMIT, clip_bytes
from store.text import sentences

TODAY_KEYWORD = "今日"  # the keyword that lists the whole edition (今日党建: one category)
TEASERS = 3  # stories shown with a line of their summary
TEASER_CHARS = 60


@dataclass(frozen=True)
class Story:
    id: int
    title: str
    url: str
    categories: tuple[str, ...]
    summary: str = ""
    published: str | None = None  # the print date as known: 2019, 2019-06, 2019-06-21


@dataclass(frozen=True)
class Edition:
    """How one digest reads: the day it goes out and how much it lists."""

    day: date = field(default_factory=date.today)
    cap: int = 8  # stories listed per heading
    teasers: int = TEASERS


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def day_label(day: date) -> str:
    return f"{day.month}月{day.day}日"


def printed(published: str | None, day: date) -> str:
    """``（2019年6月21日）`` for a story printed on another day than ``day``; else empty."""
    if not published:
        return ""
    parts = published[:10].split("-")
    try:
        nums = [int(p) for p in parts if p]
    except ValueError:
        return ""
    if nums == [day.year, day.month, day.day]:
        return ""
    units = ("年", "月", "日")
    return "（" + "".join(f"{n}{u}" for n, u in zip(nums, units)) + "）" if nums else ""


def teaser(summary: str) -> str:
    """One line of the summary: the first of its sentences short enough for a line, else the
    first sentence shortened and marked with …"""
    parts = sentences(" ".join(summary.split()))
    if not parts:
        return ""
    fits = [p for p in parts if len(p) <= TEASER_CHARS]
    if fits:
        return fits[0]
    return parts[0][: TEASER_CHARS - 1] + "…"


def sections(
    by_category: dict[str, list[Story]], categories: Sequence[str]
) -> list[tuple[str, list[Story]]]:
    """The stories of ``categories``, each once: under the first heading that holds it."""
    seen: set[int] = set()
    out = []
    for c in categories:
        mine = [s for s in by_category.get(c, []) if s.id not in seen]
        seen.update(s.id for s in mine)
        if mine:
            out.append((c, mine))
    return out


Link = Callable[[Story], str]


def cs_link(s: Story) -> str:
    # Customer-service text may carry links; the title is the link text.
    href, title = html.escape(s.url, quote=True), html.escape(s.title, quote=False)
    return f'<a href="{href}">{title}</a>'


def plain_link(s: Story) -> str:
    return f"{s.title}\n{s.url}"


def more_line(category: str, n: int) -> str:
    return f"…另有 {n} 篇{category}新闻，回复“{TODAY_KEYWORD}{category}”查看全部"


def _render(head: str, parts: list[tuple[str, list[Story]]], shown: dict[str, int],
            teasers: int, link: Link, day: date, foot: str) -> str:
    lines = [head]
    number = 0
    for category, stories in parts:
        lines.append(f"\n【{category}】")
        for s in stories[: shown[category]]:
            number += 1
            lines.append(f"{number}. {link(s)}{printed(s.published, day)}")
            if number <= teasers and s.summary:
                lines.append(teaser(s.summary))
        if len(stories) > shown[category]:
            lines.append(more_line(category, len(stories) - shown[category]))
    lines.append("\n" + foot)
    return "\n".join(lines)


def _fit(head: str, parts: list[tuple[str, list[Story]]], link: Link, foot: str,
         edition: Edition, limit: int) -> str:
    """The text with as much as fits ``limit``: teasers are given up first, then stories from
    the longest section (each counted in its "另有 N 篇" line)."""
    shown = {c: min(edition.cap, len(v)) for c, v in parts}
    teasers = edition.teasers
    text = _render(head, parts, shown, teasers, link, edition.day, foot)
    while _size(text) > limit:
        if teasers:
            teasers -= 1
        else:
            c = max(shown, key=lambda k: shown[k])
            if shown[c] <= 1:
                break
            shown[c] -= 1
        text = _render(head, parts, shown, teasers, link, edition.day, foot)
    return clip_bytes(text.strip(), limit)  # a safety net: the fitting never needs it


def heading(edition: Edition, categories: Sequence[str], n: int) -> str:
    return f"{day_label(edition.day)}新闻摘要：新收录{'、'.join(categories)}报道 {n} 篇"


def customer_service_text(
    by_category: dict[str, list[Story]],
    categories: Sequence[str],
    limit: int | None = None,
    edition: Edition | None = None,
) -> str:
    """The one message a subscriber of ``categories`` gets."""
    edition = edition or Edition()
    parts = sections(by_category, categories)
    n = sum(len(v) for _, v in parts)
    head = heading(edition, [c for c, _ in parts], n)
    foot = f"回复“{TODAY_KEYWORD}”可随时查看和翻页；回复关键词搜索更多；回复“退订”取消订阅。"
    return _fit(head, parts, cs_link, foot, edition, limit or TEXT_LIMIT)


def mass_text(
    by_category: dict[str, list[Story]],
    category: str,
    limit: int | None = None,
    edition: Edition | None = None,
) -> str:
    """The text mass-sent to a category's tag (plain links: not every client renders tags)."""
    edition = edition or Edition()
    parts = sections(by_category, [category])
    n = sum(len(v) for _, v in parts)
    head = heading(edition, [category], n)
    foot = f"回复“{TODAY_KEYWORD}{category}”查看全部；回复关键词搜索更多新闻。"
    return _fit(head, parts, plain_link, foot, edition, limit or TEXT_LIMIT)
