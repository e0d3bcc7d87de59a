"""Categories by keyword weight: 党建 (party-building) and 社区 (community).

All the weighting lives here:

- ``KEYWORDS``: each term's weight for its category (3 = the term names the topic, such as
  党支部 or 网格员; 2 = strongly typical; 1 = a hint that only counts in numbers). Terms are
  counted as substrings; a longer term does not also count its parts (党支部书记 counts once,
  as 党支部书记, not again as 党支部).
- The title counts ``TITLE_WEIGHT`` times: a story is mostly about what its headline names.
- A category's score is its weighted count per 1,000 characters of text (so a long feature is
  not everything at once) plus the title's weighted count. A story gets a category when the
  score reaches ``THRESHOLD``; a second category must also reach ``SECOND_SHARE`` of the first.
- When neither reaches the threshold the story gets the stronger one if it has any signal
  (``MIN_SIGNAL``), else none. Admins can override any story (``category_override``).
"""

from __future__ import annotations

KEYWORDS: dict[str, dict[str, float]] = {
    "党建": {
        "党建": 3, "党支部": 3, "党总支": 3, "党小组": 3, "党课": 3, "微党课": 3, "主题教育": 3,
        "主题党日": 3, "三会一课": 3, "入党": 3, "党性": 3, "党员": 2, "党组织": 2, "党委": 2,
        "党工委": 2, "党组": 2, "党支部书记": 3, "党员干部": 2, "共产党员": 2, "先锋模范": 2,
        "先锋岗": 2, "组织部": 2, "初心": 1, "使命": 1, "红色": 1, "党旗": 2, "誓词": 2,
        "宣誓": 1, "党的建设": 3, "基层党建": 3, "理论学习": 2, "党史": 3, "廉政": 2,
        "作风建设": 2, "党风": 2, "区域化党建": 3, "两学一做": 3, "书记": 1, "支部": 2,
    },
    "社区": {
        "社区": 2, "小区": 2, "楼院": 3, "楼道": 2, "楼栋": 2, "楼长": 2, "网格": 3, "网格员": 3,
        "网格长": 3, "物业": 3, "居民": 2, "业主": 2, "业委会": 3, "居委会": 3, "邻里": 2,
        "老旧小区": 3, "家门口": 2, "便民": 2, "养老": 1, "托育": 1, "志愿者": 1, "志愿服务": 1,
        "社区治理": 3, "基层治理": 2, "街巷": 1, "背街小巷": 2, "居民群众": 2, "社工": 2,
        "家属院": 2, "停车": 1, "充电": 1, "垃圾分类": 2, "议事会": 2, "协商议事": 2,
    },
}
CATEGORIES = tuple(KEYWORDS)  # the category names, in the order they are shown
TITLE_WEIGHT = 3.0
THRESHOLD = 12.0
SECOND_SHARE = 0.4
MIN_SIGNAL = 3.0


# Each category's terms, longest first: a longer term claims its span before its parts.
_LONGEST_FIRST = {cat: sorted(words, key=len, reverse=True) for cat, words in KEYWORDS.items()}


def _weighted_count(text: str, cat: str) -> float:
    """Sum of weights of ``cat``'s terms in ``text``; longest terms first, each span counted
    once."""
    words = KEYWORDS[cat]
    score = 0.0
    for term in _LONGEST_FIRST[cat]:
        n = text.count(term)
        if n:
            score += words[term] * n
            text = text.replace(term, "\0" * len(term))
    return score


def scores(title: str, body: list[str]) -> dict[str, float]:
    """Each category's score for a story (see the module doc for the formula)."""
    text = "\n".join(body)
    per = 1000.0 / max(len(text), 300)
    return {
        cat: _weighted_count(text, cat) * per + TITLE_WEIGHT * _weighted_count(title, cat)
        for cat in KEYWORDS
    }


def classify(title: str, body: list[str]) -> list[str]:
    """The categories of a story, in the order of ``KEYWORDS``: [], [党建], [社区] or both."""
    s = scores(title, body)
    top = max(s.values())
    chosen = [c for c, v in s.items() if v >= THRESHOLD and v >= SECOND_SHARE * top]
    if not chosen and top >= MIN_SIGNAL:
        chosen = [max(s, key=lambda c: s[c])]
    return chosen
