"""Chinese text helpers: sentence splitting that respects quotes and brackets, punctuation tests.

Printed pages mix full-width (，。：“”) and ASCII (,.:?!) punctuation, so both are understood.
"""

from __future__ import annotations

import re

# Sentence-final marks. An ASCII '.' is left out: it is a decimal point far more often.
TERMINAL = set("。！？!?；;…")
OPENERS = {"“": "”", "「": "」", "『": "』", "《": "》", "（": "）", "(": ")", "‘": "’", "【": "】",
           "〔": "〕"}
CLOSERS = {v: k for k, v in OPENERS.items()}
# A paragraph may end with a closing quote or bracket right after its final mark: 。” or ！）
TRAILING_CLOSERS = set(CLOSERS)
COMMAS = set("，,、")
# Characters that do not begin a sentence: particles and suffixes left behind by a cut word.
NO_START = set("的了们着过地得之吗呢吧啊么")

_BRACKETS = set("）)】〕")
# Where a page lost text at a column break: an ellipsis for what is missing, in the brackets
# that set an editor's word apart from the writer's (see store.ingest_mend.torn)
GAP = "〔……〕"
# A quoted span longer than this is taken for an unclosed quote, and splitting resumes.
_MAX_QUOTE = 160


def is_closed(text: str) -> bool:
    """Does ``text`` end like a finished sentence (final mark, maybe inside closing quotes)?"""
    t = text.rstrip()
    while t and t[-1] in TRAILING_CLOSERS:
        t = t[:-1]
    # 成果图—— : a lead-in that points at the next paragraph is finished too
    return bool(t) and (t[-1] in TERMINAL or t.endswith(("……", "——")))


def balanced(text: str) -> bool:
    """Are the quotes and brackets of ``text`` paired (every closer has its opener)?"""
    stack: list[str] = []
    for ch in text:
        if ch in OPENERS:
            stack.append(OPENERS[ch])
        elif ch in CLOSERS:
            if not stack or stack[-1] != ch:
                return False
            stack.pop()
    return not stack


def outside_quotes(text: str) -> str:
    """``text`` with quoted spans (“…”, 「…」, 『…』, 《…》) removed: what the writer says in
    their own voice. Unbalanced marks are left as they are."""
    out = re.sub(r"“[^“”]*”|「[^「」]*」|『[^『』]*』|《[^《》]*》", "", text)
    return out


def sentences(text: str) -> list[str]:
    """Split a paragraph into sentences. A final mark inside quotes or brackets does not end
    the sentence (“……我的初心和使命。”他说 stays whole); a mark followed by closing quotes
    ends it after the quotes."""
    out: list[str] = []
    depth: list[str] = []
    start = 0
    quote_start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in OPENERS:
            if not depth:
                quote_start = i
            depth.append(OPENERS[ch])
        elif ch in CLOSERS:
            if depth and depth[-1] == ch:
                depth.pop()
        elif ch in TERMINAL:
            if depth and i - quote_start > _MAX_QUOTE:
                depth.clear()  # an unclosed quote: do not swallow the rest of the paragraph
            j = i + 1
            while j < n and text[j] in TERMINAL:
                j += 1
            # 。” ：the closing quotes belong to the sentence they end
            k = j
            closing = list(depth)
            while k < n and text[k] in CLOSERS and closing and closing[-1] == text[k]:
                closing.pop()
                k += 1
            if not closing and any(text[x] in _BRACKETS for x in range(j, k)):
                depth = closing  # 。） inside brackets is an aside: the sentence goes on
                i = k
                continue
            if not closing:
                depth = closing
                piece = text[start:k].strip()
                if piece:
                    out.append(piece)
                start = k
                i = k
                continue
            i = j
            continue
        i += 1
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return _attach_attributions(out)


_SAID = re.compile(r"说|表示|介绍|告诉|坦言|感慨|笑着|问道|答道|回答|称")


def _attach_attributions(parts: list[str]) -> list[str]:
    """“……。”郭龙生说。 is one sentence: a short attribution stays with its quotation."""
    out: list[str] = []
    for p in parts:
        if out and out[-1][-1:] in "”」" and len(p) <= 40 and _SAID.search(p):
            out[-1] += p
        else:
            out.append(p)
    return out


def squeeze(text: str) -> str:
    """Collapse runs of whitespace to one space and trim."""
    return re.sub(r"[ \t\u3000\xa0]+", " ", text).strip()


def normal_key(text: str) -> str:
    """A key for comparing blocks: no whitespace, unified comma/colon/bracket forms."""
    t = re.sub(r"\s+", "", text)
    return t.translate(str.maketrans({",": "，", ":": "：", "(": "（", ")": "）", ";": "；",
                                      "?": "？", "!": "！"}))


_FULL = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；", "(": "（", ")": "）"}
# what may stand beside a mark that belongs to Chinese text: a Chinese character or mark
_CJK_MARKS = set("“”‘’《》（）「」『』【】、，。！？：；…—")


def _chinese(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or ch in _CJK_MARKS


def chinese_punctuation(text: str) -> str:
    """Half-width , ? ! : ; ( ) written between Chinese characters in their full-width forms
    (各社区(村)党员 -> 各社区（村）党员; 深入?目前 -> 深入？目前). Marks beside digits or Latin
    text on both sides (2019,6; 15:30; a URL's ?x=1) are left alone; a closing bracket follows
    its opening one."""
    if not any(c in _FULL for c in text):
        return text
    out = list(text)
    opened: list[bool] = []  # for each open "(": was it made full-width
    n = len(text)
    for i, ch in enumerate(text):
        if ch not in _FULL:
            continue
        left = text[i - 1] if i else ""
        right = text[i + 1] if i + 1 < n else ""
        if ch == "(":
            opened.append(_chinese(left) or _chinese(right))
            if opened[-1]:
                out[i] = _FULL[ch]
        elif ch == ")":
            if opened.pop() if opened else _chinese(left) or _chinese(right):
                out[i] = _FULL[ch]
        elif _chinese(left) and (not right or right.isspace() or _chinese(right)):
            out[i] = _FULL[ch]
    return "".join(out)
