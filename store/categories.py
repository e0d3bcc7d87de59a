"""Categories by keyword weight: 党建 (party-building) and 社区 (community)."""

from __future__ import annotations

KEYWORDS: dict[str, dict[str, float]] = {
    "党建": {"党支部": 3, "党员": 2, "党课": 3, "主题教育": 3, "党建": 3, "党组织": 2, "初心": 1},
    "社区": {"社区": 2, "小区": 2, "楼院": 3, "网格": 3, "物业": 2, "居民": 2},
}
THRESHOLD = 4.0


def classify(title: str, body: list[str]) -> list[str]:
    text = title * 3 + "\n".join(body)
    out = []
    for cat, words in KEYWORDS.items():
        score = sum(w * text.count(k) for k, w in words.items())
        if score >= THRESHOLD:
            out.append(cat)
    return out
