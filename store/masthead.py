"""The name a reader knows a printed page by: the paper's masthead, else its footer's account.

A page's first lines may carry the masthead with the date and page number ("青河日报  2024年7月2日
星期二  第3版"); its last lines often name the paper's WeChat account ("柳湾党建 微信公众号").
Only these two shapes are read: a story's own text never names the page it is printed on.
"""

from __future__ import annotations

import re

HEAD_LINES = 3  # the masthead sits above the first headline
FOOT_LINES = 4  # the account's name sits at the very end
_PAPER = re.compile(
    r"^\s*([\u4e00-\u9fff]{2,10}(?:日报|晚报|晨报|都市报|时报|商报|法治报|报))"
    r"(?:\s|$|\d{4}年|第\s*\d+\s*版)"
)
_ACCOUNT = re.compile(r"^\s*([\u4e00-\u9fffA-Za-z0-9]{2,16})\s*(?:微信)?公众号\s*$")


def masthead_of(page: str) -> str:
    """The paper named in the page's masthead, else the account named in its footer, else ""."""
    lines = [x for x in page.splitlines() if x.strip()]
    for line in lines[:HEAD_LINES]:
        m = _PAPER.match(line)
        if m:
            return m.group(1)
    for line in reversed(lines[-FOOT_LINES:]):
        m = _ACCOUNT.match(line)
        if m:
            return m.group(1)
    return ""
