"""Turning what a user typed into safe FTS5 match expressions.

User text never reaches FTS5 as syntax: it is normalised (NFKC, lower case), cut into words by
jieba's precise mode, reduced to runs of letters and digits (so quotes, ``*``, ``-``, ``:``,
parentheses and the words AND/OR/NOT/NEAR can only ever be searched as plain words), and every
word is emitted as a double-quoted FTS5 string.

A query is a list of *slots* (one per word the user typed); a slot holds one or more
*alternatives* (the word itself, its synonyms); an alternative is one or more tokens that must
all occur in the story. "All" mode ANDs the slots, "any" mode ORs everything.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import opencc

from store.segment import cut_for_query, tokenizer

MAX_QUERY_CHARS = 100  # a WeChat keyword; longer input is cut, not refused
MAX_SLOTS = 8

# Separators for the index and queries alike: anything but letters and digits (FTS5's unicode61
# treats "_" as a separator too, so it is one here).
WORD = re.compile(r"[^\W_]+")
_ASCII_LETTERS = re.compile(r"^[a-z]+$")
_HAN = re.compile(r"^[\u4e00-\u9fff]+$")

# Function words that match nearly every story and say nothing about what the user wants.
STOPWORDS = frozenset(
    ["的", "了", "和", "与", "及", "是", "在", "有", "我", "你", "他", "她", "它", "们", "这", "那", "也", "都", "就", "把", "被", "对", "为", "以", "之", "于", "而", "或", "从", "到", "吗", "呢", "吧", "啊", "呀", "么", "个", "些", "请", "给", "要", "想", "看", "找", "一下", "什么", "怎么", "哪些", "哪个", "关于", "有关", "一些",
     # what a question or a request wraps around its subject ("有没有关于养老的报道",
     # "我想看看花园口的新闻", "网格员都做什么"): every story is news, none is about 做
     "做", "干", "搞", "说", "讲", "有没有", "看看", "查", "查查", "搜", "搜索", "如何", "怎样",
     "怎么样", "为什么", "哪里", "哪儿", "多少", "新闻", "报道", "消息", "文章", "内容", "相关",
     "请问", "麻烦", "能不能", "可不可以", "知道", "想知道",
     "a", "an", "the", "of", "and", "or", "not", "to", "in", "on", "for"]
)


# control and format characters (zero-width spaces, direction marks, BOM), never words
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def normalise(text: str) -> str:
    """Full-width forms folded, traditional characters made simplified, lower case, control
    characters dropped. The index and queries both pass through here, so 黨建 meets 党建."""
    return to_simplified(_INVISIBLE.sub("", unicodedata.normalize("NFKC", text))).lower()


@lru_cache(maxsize=1)
def _t2s() -> Any:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """``text`` in simplified characters, by OpenCC's t2s (phrases first, then characters).

    Only characters outside GB 2312, the simplified character set, are replaced: t2s also
    folds simplified characters of their own (the 乾 of 张乾林 would become 干)."""
    try:
        text.encode("gb2312")
        return text  # simplified (or ASCII) already: the common case, and cheap
    except UnicodeEncodeError:
        pass
    folded = str(_t2s().convert(text))
    if len(folded) != len(text):
        return folded
    return "".join(c if _simplified(c) else f for c, f in zip(text, folded))


def _simplified(ch: str) -> bool:
    try:
        ch.encode("gb2312")
        return True
    except UnicodeEncodeError:
        return False


def words(tokens: list[str] | tuple[str, ...]) -> list[str]:
    """Index/query tokens reduced to letter-and-digit runs, exactly as FTS5 will see them."""
    out: list[str] = []
    for t in tokens:
        out.extend(WORD.findall(t.lower()))
    return out


@dataclass
class Query:
    text: str  # the user's text, trimmed and cut to MAX_QUERY_CHARS
    slots: list[list[tuple[str, ...]]] = field(default_factory=list)
    labels: dict[tuple[str, ...], str] = field(default_factory=dict)  # how to show an alternative

    @property
    def terms(self) -> list[str]:
        """Every alternative searched, as readable words (multi-token ones joined)."""
        seen: list[str] = []
        for slot in self.slots:
            for alt in slot:
                w = self.labels.get(alt) or " ".join(alt)
                if w not in seen:
                    seen.append(w)
        return seen

    @property
    def subject(self) -> list[str]:
        """What the user asked about: each word they typed, as written (no synonyms)."""
        return [self.labels.get(slot[0]) or "".join(slot[0]) for slot in self.slots]

    @property
    def tokens(self) -> list[str]:
        """Every distinct token of every alternative (for highlighting)."""
        seen: list[str] = []
        for slot in self.slots:
            for alt in slot:
                for t in alt:
                    if t not in seen:
                        seen.append(t)
        return seen


def parse(text: str) -> Query:
    """The user's text as a :class:`Query`; never raises, may have no slots."""
    text = (text or "").strip()[:MAX_QUERY_CHARS]
    q = Query(text=text)
    toks = words(list(cut_for_query(normalise(text))))
    kept = [t for t in toks if t not in STOPWORDS] or toks
    seen: set[str] = set()
    freq = tokenizer().FREQ
    for t in kept:
        if t not in seen:
            seen.add(t)
            slot = [(t,)]
            if len(t) > 2 and not freq.get(t) and _HAN.match(t):
                # an HMM-made word (often a name): the index also holds its 2-character parts
                slot.append(tuple(t[i:i + 2] for i in range(len(t) - 1)))
                q.labels[slot[1]] = t
            q.slots.append(slot)
        if len(q.slots) >= MAX_SLOTS:
            break
    return q


def is_pinyin_like(q: Query) -> bool:
    """All slots plain ASCII letters: the user may have typed pinyin, maybe split by syllable."""
    return bool(q.slots) and all(
        len(s) == 1 and len(s[0]) == 1 and _ASCII_LETTERS.match(s[0][0]) for s in q.slots
    )


def joined_pinyin(q: Query) -> Query | None:
    """``guo long sheng`` -> one slot ``guolongsheng``; None when not applicable."""
    if len(q.slots) < 2 or not is_pinyin_like(q):
        return None
    return Query(text=q.text, slots=[[("".join(s[0][0] for s in q.slots),)]], labels=q.labels)


_SYNONYM_LABELS: dict[tuple[str, ...], str] = {}  # filled with the groups: tokens -> as written


@lru_cache(maxsize=1)
def synonym_groups() -> dict[str, tuple[tuple[str, ...], ...]]:
    """word -> the tokenised alternatives of its group (itself included), from synonyms.txt."""
    path = resources.files("store") / "data" / "synonyms.txt"
    groups: dict[str, tuple[tuple[str, ...], ...]] = {}
    labels = _SYNONYM_LABELS
    if not path.is_file():
        return groups
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        members = [m for m in re.split(r"[\s/,，、]+", line) if m]
        alts: list[tuple[str, ...]] = []
        for m in members:
            toks = tuple(t for t in words(list(cut_for_query(normalise(m)))) if t not in STOPWORDS)
            if toks and toks not in alts:
                alts.append(toks)
        for m in members:
            key = "".join(words(list(cut_for_query(normalise(m)))))
            groups[key] = tuple(alts)
            labels[tuple(t for t in words(list(cut_for_query(normalise(m)))) if t not in STOPWORDS)] = m
    return groups


def widened(q: Query) -> Query | None:
    """``q`` with each word's synonyms as alternatives; None when no word has any."""
    groups = synonym_groups()
    labels = dict(q.labels)
    changed = False
    slots: list[list[tuple[str, ...]]] = []
    for slot in q.slots:
        alts = list(slot)
        for alt in slot:
            for syn in groups.get("".join(alt), ()):
                if syn not in alts:
                    alts.append(syn)
                    labels.setdefault(syn, _SYNONYM_LABELS.get(syn, " ".join(syn)))
                    changed = True
        slots.append(alts)
    return Query(text=q.text, slots=slots, labels=labels) if changed else None


def for_any(q: Query) -> Query:
    """The query for the any-word fallback: single characters (村, 推) alone match most stories
    and say little, so they are left out when the query has longer words."""
    slots = [[a for a in slot if any(len(t) > 1 for t in a)] for slot in q.slots]
    slots = [s for s in slots if s]
    return Query(text=q.text, slots=slots, labels=q.labels) if slots else q

