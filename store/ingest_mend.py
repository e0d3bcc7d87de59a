"""Page import, step 2: drop blocks printed twice and mend paragraphs cut at column breaks.

A paragraph cut at a column break ends without final punctuation; its rest is another block,
usually the next one, sometimes several blocks later (the layout put other columns in between).
Each open block is paired with the block that most plausibly continues it, scored on:

- evidence that the two ends belong together: a dictionary word straddles the join (工|商 ->
  工商), or the joined letters occur elsewhere on the page (中原区委|组织 -> 区委组织);
- evidence that the candidate starts mid-sentence: it opens with a particle (的, 们) or its second
  character is a comma (商、教育);
- evidence against: it opens like a paragraph (a quote, a date, a short lead clause "X。");
- nearness: the next block, or the next past a caption, is preferred.

The best pairs win first. When a continuation sits away from its fragment, the blocks that follow
it in its column move along with it, which also restores the reading order of shuffled columns.

A join whose seam is torn (the page lost the text between the halves: 物业服务企|民代表) is
kept with the gap marked, ``store.text.GAP``, so that no reader takes it for a typo and an editor
can find it; see :func:`torn`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from store import segment
from store.ingest_blocks import Unit
from store.segment import tokenizer
from store.text import COMMAS, GAP, NO_START, normal_key, sentences

_PARA_START = re.compile(r"^(?:\d{1,2}月\d{1,2}日|\d{4}年|近日|今年|目前|如今|同时|此外|据了解|近年来|日前)")
_LEAD = re.compile(r"^[^，,。；;“”]{5,16}。")
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")
# How far (in text blocks) a continuation may sit from its fragment.
WINDOW = 16
ACCEPT = 1.0


def drop_repeats(units: list[Unit]) -> list[Unit]:
    """Leave out a text block printed a second time (same words, whitespace and punctuation
    forms aside), or a block wholly contained in an earlier, longer one."""
    seen: list[str] = []
    out: list[Unit] = []
    for u in units:
        if u.kind == "text" and u.length >= 12:
            key = normal_key(u.text)
            if any(key == k or (len(key) >= 20 and key in k) for k in seen):
                continue
            seen.append(key)
        out.append(u)
    return out


def _straddles(left: str, right: str) -> float:
    """How common is the dictionary word that crosses the join of ``left`` and ``right``?
    4 for an everyday word (工|商), less for a rare one (工|务 is a word, but seldom)."""
    a, b = left[-6:], right[:6]
    if not a or not b:
        return 0.0
    tk = tokenizer()
    pos = 0
    for word in tk.cut(a + b, HMM=False):
        end = pos + len(word)
        if pos < len(a) < end and len(word) >= 2 and _CJK.match(word):
            freq = tk.FREQ.get(word, 0)
            return 4.0 if freq >= 200 else 2.0 if freq >= 30 else 0.5
        pos = end
    return 0.0


def _on_page(left: str, right: str, page: str) -> bool:
    """Do the letters either side of the join occur together elsewhere on the page?"""
    for k in (1, 2, 3):
        for m in (1, 2, 3):
            if k + m < 3:
                continue
            s = left[-k:] + right[:m]
            if len(s) == k + m and _CJK.match(s) and s in page:
                return True
    return False


def evidence(left: str, right: str, page: str) -> float:
    """How strongly the end of ``left`` and the start of ``right`` belong together."""
    score = 0.0
    score += _straddles(left, right)
    if _on_page(left, right, page):
        score += 2
    if left and right and left[-1] == right[0] and _CJK.match(left[-1]):
        score += 1
    if left and left[-1] in COMMAS:
        score += 1
    return score


def starts_mid_sentence(text: str) -> float:
    """+ when ``text`` begins mid-sentence, - when it begins like a new paragraph."""
    if not text:
        return 0.0
    if text[0] in NO_START or text[0] in COMMAS or (len(text) > 1 and text[1] in COMMAS):
        return 2.0
    score = 0.0
    if text[0] in "“「『《（(":
        score -= 1
    if _PARA_START.match(text):
        score -= 1
    if _LEAD.match(text):
        score -= 2
    return score


def _caption_like(u: Unit) -> bool:
    """A short block that may sit inside a paragraph's cut: a caption or a photo credit."""
    if u.kind == "credit":
        return True
    return u.kind == "text" and not u.open and u.length <= 32 and len(sentences(u.text)) == 1


def rescue_heads(units: list[Unit], page: str) -> None:
    """A short line without a full stop may be a paragraph's first piece, not a head: it is
    when the next text block plainly carries on from it."""
    for i, u in enumerate(units):
        if u.kind != "head" or u.length < 6:
            continue
        for nxt in units[i + 1 : i + 4]:
            if _caption_like(nxt):
                continue
            if nxt.kind == "text":
                ev = evidence(u.text, nxt.text, page)
                if ev >= 4 or (ev >= 2 and starts_mid_sentence(nxt.text) > 0):
                    u.kind, u.open = "text", True
            break


def match_fragments(units: list[Unit], page: str) -> dict[int, tuple[int, bool]]:
    """Pairs fragment -> (continuation, adjacent) by unit index."""
    scored: list[tuple[float, int, int, bool]] = []
    for i, f in enumerate(units):
        if f.kind != "text" or not f.open or f.byline:
            continue
        between_ok = True  # only caption-like blocks so far: still "adjacent"
        texts = 0
        for j in range(i + 1, len(units)):
            c = units[j]
            if c.kind in ("byline", "column", "footer", "date") or c.benbao:
                break
            if c.kind == "text":
                texts += 1
                if texts > WINDOW:
                    break
                s = evidence(f.text, c.text, page) + starts_mid_sentence(c.text)
                adjacent = between_ok
                if adjacent:
                    s += 2 if j == i + 1 else 1.5
                s -= 0.1 * (texts - 1)
                if s >= ACCEPT:
                    scored.append((s, i, j, adjacent))
            if not _caption_like(c):
                between_ok = False
    pairs: dict[int, tuple[int, bool]] = {}
    taken: set[int] = set()
    for _, i, j, adjacent in sorted(scored, key=lambda t: (-t[0], t[1], t[2])):
        if i in pairs or j in taken:
            continue
        pairs[i] = (j, adjacent)
        taken.add(j)
    return {units[i].index: (units[j].index, adj) for i, (j, adj) in pairs.items()}


def _run(seq: list[Unit], start: int, stops: set[int]) -> list[Unit]:
    """The continuation at ``start`` and the blocks after it in the same column."""
    run = [seq[start]]
    for u in seq[start + 1 :]:
        if u.kind != "text" or u.gap >= 2 or u.index in stops or u.benbao:
            break
        run.append(u)
    return run


# A head line that ends in a place name: 提升党员凝聚力战斗力花园口镇 (a kicker and the next
# story's place line, printed side by side and read as one line)
_PLACE = re.compile(r"[\u4e00-\u9fff]{2,}(?:镇|乡|街道|社区|村|区|县|市|办事处)$")
_PLACE_END = re.compile(r"^[\u4e00-\u9fff]{6,28}(?:镇|乡|街道|社区|村|区|县|市|办事处)$")



def unglue_place(line: str) -> list[str]:
    """``line`` as printed, or as two lines when a place name is glued to the end of a head:
    the last word is a place (jieba's ``ns``) that a noun, not a verb, comes before (记者走进槐树
    社区 stays whole: the place is what they walked into)."""
    text = line.strip()
    if not _PLACE_END.match(text):
        return [line]
    words = list(segment.tagger().cut(text))
    last = words[-1]
    # a place of the project's dictionary has no part of speech there ("x")
    if len(words) < 2 or last.flag not in ("ns", "x") or not _PLACE.search(last.word):
        return [line]
    before = words[-2].flag
    rest = text[: -len(words[-1].word)]
    if not before.startswith("n") or before == "ns" or len(rest) < 6:
        return [line]
    return [rest, words[-1].word]


DANGLING_MAX = 24  # characters of a torn opening clause that may be left out


def drop_torn_start(paragraph: str) -> str:
    """A paragraph that opens mid-word (们不断前进的根本动力，新时代…) whose first half is not on
    the page: its torn opening clause is left out, when short. A word that merely starts with
    such a character (地铁, 的确, 之前) is a proper start and stays."""
    if not paragraph or paragraph[0] not in NO_START:
        return paragraph
    first = next(iter(tokenizer().cut(paragraph[:8], HMM=False)), "")
    if len(first) > 1:
        return paragraph
    m = re.search(r"[，,；;。！？]", paragraph[:DANGLING_MAX + 1])
    rest = paragraph[m.end():].lstrip() if m else ""
    return rest if len(rest) >= 10 else paragraph


# A character that stands alone in less than this share of its uses (its own frequency in
# jieba's dictionary against the frequencies of the words holding it) is mostly a piece of a
# word: 单 (0.10; 单位, 简单), 商 (0.06; 商户, 工商); not 和, 对, 他 (0.6 and over). Higher, and
# given names split from their surname read as torn (耿|学连, 许|大娘); lower, and 单 does not.
BOUND = 0.12
_WINDOW = 6  # characters either side of a seam that jieba reads


@lru_cache(maxsize=1024)
def alone_share(ch: str) -> float:
    """The share of ``ch``'s uses in jieba's dictionary in which it is a word of its own."""
    freq = tokenizer().FREQ
    inside = sum(f for w, f in freq.items() if f and len(w) > 1 and ch in w)
    alone = freq.get(ch, 0)
    return alone / (alone + inside) if alone + inside else 0.0


def _whole_word(word: str) -> bool:
    return len(word) > 1 and bool(_CJK.match(word))


def torn(left: str, right: str, page: str = "") -> bool:
    """Did the page lose text between ``left`` and ``right``? Yes when, in jieba's cut of the
    joined text, each side of the seam is a character standing alone between whole words
    (相关/单|商/共同努力), the two make no word, neither is often a word by itself (:data:`BOUND`),
    and the pair does not occur elsewhere on ``page`` (东|环小学 where 东环小学 is printed
    again). A seam inside a word (工|商), after a whole word (区委|组织) or among several
    single characters in a row (a name or a set phrase jieba does not know: 立行|立改) is clean."""
    a, b = left[-_WINDOW:], right[:_WINDOW]
    if not (a and b and _CJK.match(a[-1]) and _CJK.match(b[0])) or _on_page(left, right, page):
        return False
    words = list(tokenizer().cut(a + b, HMM=False))
    ends, pos = [], 0
    for w in words:
        pos += len(w)
        ends.append(pos)
    if len(a) not in ends:
        return False  # a word straddles the seam
    k = ends.index(len(a))
    if k == 0 or k + 2 >= len(words):
        return False
    before, lw, rw, after = words[k - 1 : k + 3]
    if len(lw) != 1 or len(rw) != 1 or not (_whole_word(before) and _whole_word(after)):
        return False
    if tokenizer().FREQ.get(lw + rw):
        return False
    return alone_share(lw) < BOUND and alone_share(rw) < BOUND


def join(left: str, right: str, page: str = "") -> str:
    """The two halves of a cut paragraph as one. A character printed at the end of one column
    and again at the top of the next (有种说|说不出的 -> 有种说不出的) is kept once: when the
    doubled pair is no word (天天, 看看 are) and the next half opens with one (说不出). A torn
    seam (:func:`torn`) keeps both halves with :data:`~store.text.GAP` between them."""
    if left and right and left[-1] == right[0] and _CJK.match(right[0]):
        freq = tokenizer().FREQ
        if not freq.get(right[0] * 2) and any(freq.get(right[:n]) for n in (2, 3, 4)):
            return left + right[1:]
    if torn(left, right, page):
        return left + GAP + right
    return left + right


@dataclass(frozen=True)
class Gap:
    """A gap marked in a story's body, as an editor is told of it."""

    article_id: int  # 0 for a story not saved
    paragraph: int  # 1-based, as #改正文 and newsbot edit --paragraph count
    around: str  # the gap with a few characters either side


AROUND = 8  # characters either side of a gap that the import report shows


def gaps_in(body: list[str], article_id: int = 0) -> list[Gap]:
    """Every gap marked in ``body``, in order."""
    out = []
    for n, para in enumerate(body, 1):
        at = para.find(GAP)
        while at >= 0:
            end = at + len(GAP)
            out.append(Gap(article_id, n, para[max(0, at - AROUND) : end + AROUND]))
            at = para.find(GAP, end)
    return out


def mend(units: list[Unit], page: str) -> list[Unit]:
    """The page's units with repeats dropped and cut paragraphs joined, in reading order.
    Short blocks found inside a cut get ``role = "caption"``."""
    units = drop_repeats(units)
    rescue_heads(units, page)
    pairs = match_fragments(units, page)
    far_targets = {c for c, adj in pairs.values() if not adj}
    seq = list(units)
    pos = {u.index: u for u in seq}
    for f_index in sorted(pairs):
        c_index, adjacent = pairs[f_index]
        if adjacent:
            continue
        at = next(k for k, u in enumerate(seq) if u.index == c_index)
        run = _run(seq, at, far_targets - {c_index})
        del seq[at : at + len(run)]
        f_at = next(k for k, u in enumerate(seq) if u.index == f_index)
        seq[f_at + 1 : f_at + 1] = run
    out: list[Unit] = []
    skip: set[int] = set()
    for u in seq:
        if u.index in skip:
            continue
        moved: list[Unit] = []
        cur = u.index
        while cur in pairs:
            c_index = pairs[cur][0]
            last_at = next(i for i, x in enumerate(seq) if x.index == cur)
            c_at = next(i for i, x in enumerate(seq) if x.index == c_index)
            if c_at < last_at:
                break
            for x in seq[last_at + 1 : c_at]:
                if x.index not in skip:
                    if x.kind == "text":
                        x.role = "caption"  # a short block inside a cut paragraph
                    moved.append(x)
                    skip.add(x.index)
            c = pos[c_index]
            u.text = join(u.text, c.text, page)
            u.open = c.open
            u.byline = c.byline or u.byline
            u.merged.append(c_index)
            skip.add(c_index)
            cur = c_index
        out.append(u)
        out.extend(moved)
    return out
