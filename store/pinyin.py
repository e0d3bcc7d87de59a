"""Pinyin keys for people, places and title words, so ``guolongsheng`` or ``glsh`` finds a story.

Each Chinese word of two or more characters gets three keys: the full pinyin run together
(``guolongsheng``), the initials with zh/ch/sh kept (``glsh``) and the first letters (``gls``).
Readings are pypinyin's most common ones; words are cached, since names repeat across stories.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from importlib import resources

import jieba

from store.segment import USER_DICT

_HAN = re.compile(r"^[\u4e00-\u9fff]{2,6}$")
# Tags in jieba's dictionary for people (nr*) and places (ns).
_NAME_TAGS = frozenset({"nr", "nrfg", "nrt", "ns"})


@lru_cache(maxsize=65536)
def keys(word: str) -> tuple[str, ...]:
    """The pinyin keys of a Chinese word; empty for anything else."""
    if not _HAN.match(word):
        return ()
    # imported here: pypinyin's tables weigh on a worker's memory, and only indexing and queries
    # typed in letters need them
    from pypinyin import Style, lazy_pinyin

    full = lazy_pinyin(word, style=Style.NORMAL, errors="ignore")
    if len(full) != len(word):
        return ()
    initials = lazy_pinyin(word, style=Style.INITIALS, strict=False, errors="ignore")
    inits = "".join(i or f[0] for i, f in zip(initials, full))
    firsts = "".join(f[0] for f in full)
    return tuple(dict.fromkeys(("".join(full), inits, firsts)))


@lru_cache(maxsize=1)
def name_words() -> frozenset[str]:
    """Words jieba's dictionary tags as people or places, plus the project's place names."""
    found: set[str] = set()
    paths = [os.path.join(os.path.dirname(jieba.__file__), "dict.txt")]
    user = resources.files("store") / "data" / USER_DICT
    if user.is_file():
        paths.append(str(user))
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3 and parts[2] in _NAME_TAGS:
                        found.add(parts[0])
        except OSError:
            continue
    return frozenset(found)


def is_name(word: str, known: dict[str, int]) -> bool:
    """A person or place: tagged so in the dictionary, or a 2-4 character word that jieba's
    dictionary does not know (found by its HMM, which is how unknown names surface)."""
    if not _HAN.match(word) or len(word) > 4:
        return False
    return word in name_words() or not known.get(word)


# What place names end with; jieba often cuts the name off its ending (大王|寨|村, 永兴|屯村).
EVERYDAY = 5000  # dictionary frequency above which a word is not the start of a name
PLACE_ENDS = ("村", "镇", "乡", "县", "市", "区", "街道", "社区", "小区", "路")


def places(words: list[str], known: dict[str, int] | None = None) -> list[str]:
    """Place names that jieba cut into pieces, put back together: two or three adjacent words
    of 3 to 6 Chinese characters in all that end with a place ending, led by a word of two or
    more characters that is neither a place itself (花园口镇 is one word already) nor one of the
    language's everyday words (我们, by its frequency in ``known``)."""
    known = known or {}
    out: dict[str, None] = {}
    n = len(words)
    for i in range(n - 1):
        head = words[i]
        if len(head) < 2 or head.endswith(PLACE_ENDS) or not _HAN.match(head):
            continue
        if known.get(head, 0) > EVERYDAY:
            continue
        joined = head
        for j in range(i + 1, min(i + 3, n)):
            joined += words[j]
            if len(joined) > 6 or not _HAN.match(joined):
                break
            if joined.endswith(PLACE_ENDS):
                out[joined] = None
                break
    return list(out)
