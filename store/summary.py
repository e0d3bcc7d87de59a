"""Extractive summaries: the story's own whole sentences, chosen so that they stand alone.

How a sentence is chosen:

- Candidates are the sentences of the prose paragraphs (``store.text.sentences``, which keeps
  quoted speech whole), joined where the splitter stopped at "；", "：" or an ellipsis, so that
  each ends at a sentence end (。！？, maybe inside closing quotes). Section heads (lines without
  final punctuation), bylines, photo credits and 本报讯 markers never become candidates;
  captions are not in the body at all.
- Each candidate gets ``0.45 * salience + 0.40 * lead + 0.15 * title``:
  salience is the sum of the story's jieba TF-IDF keyword weights the sentence holds, damped by
  its length and scaled to 0..1 over the story; lead is 1 for the first sentence and falls
  with position (news puts the point first); title is the share of the headline's words the
  sentence repeats. A sentence that is mostly a quotation loses 0.25 (a quoted lede is colour,
  not the point), a very short one loses 0.3.
- A sentence that points back to something the reader has not seen (他…, 该镇…, 为此…,
  这一问题…, 某某口中的…) may only follow the sentence before it. One that opens with 他 / 她
  is given the story's main person instead (他2003年参加工作 -> 商国亮2003年参加工作) when the
  story names one person far more than any other and the sentence before names nobody else.
  A short sentence may not stand apart from its neighbours either: cut from its paragraph it
  reads as a stray slogan.
- The best sentences are taken, whole, while they fit the length budget (``SHORT_MAX`` for a
  news card, ``LONG_MAX`` for a text reply) and printed in story order. The budget is kept by
  choosing shorter sentences, never by cutting one; only a story with no sentence that fits
  gets its shortest one.
- A sentence holding a gap the import marked where the page lost text (``store.text.GAP``) is
  taken only when the story has no other sentence.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from store import segment
from store.ingest_blocks import BENBAO, GLUED_BYLINE
from store.text import CLOSERS, GAP, is_closed, sentences

SHORT_MIN, SHORT_MAX = 80, 120
LONG_MIN, LONG_MAX = 200, 260
ALONE_MIN = 30  # characters: a shorter sentence stays beside its neighbour or out
PERSON_SPAN = 1200  # characters of a story read for its main person

_QUOTED = re.compile(r"“[^“”]*”|「[^「」]*」")
# Sentence ends a summary may stop at (an ellipsis, "；" or "：" only pauses).
_ENDS = set("。！？!?")
# Words that open a sentence by pointing at what came before.
LEANS_BACK = re.compile(
    r"^(?:他们|她们|他|她|它|该|此|其|这|那|对此|为此|因此|所以|于是|同时|与此同时|此外|另外"
    r"|而且|并且|但是?|而|然而|不过|随后|此后|之后|后来|当时|如今)"
)
# ... or pointing back within its first words: 面对党旗，该镇党员…; 网格员发现这一问题后…
_BACK_NEAR = re.compile(
    r"口中的|[他她](?![们])|该(?=[镇村区市县乡街社局校院所处站企项])|此[次项事举]|上述|前述"
    r"|这[一些个种][^，,。]{0,4}?(?:问题|情况|现象|做法|举措|难题|变化|工作|活动)"
)
_NEAR = 15  # characters in which a pointer makes a sentence lean back
_PRONOUN = re.compile(r"^[他她](?![们])")

def _keywords(text: str, top: int = 25) -> dict[str, float]:
    """TF-IDF keyword weights with the project's tokenizer (user dictionary loaded)."""
    return dict(segment.tfidf().extract_tags(text, topK=top, withWeight=True))


def _tagged(text: str) -> list[tuple[str, str]]:
    """(word, part of speech) by jieba's tagger with the project's dictionary."""
    return [(w, f) for w, f in segment.tagger().cut(text)]


def people(text: str) -> list[str]:
    """The people ``text`` names, in order, as jieba's tagger finds them (2-4 characters)."""
    return [w for w, flag in _tagged(text) if flag == "nr" and 2 <= len(w) <= 4]


def slogan(text: str) -> bool:
    """A short sentence with no subject, opening with a verb (提升作风建设，打造…。, 扎实开展…。):
    a section head the page glued into the prose, not a sentence of the story."""
    if len(text) >= ALONE_MIN:
        return False
    tags = [f for _, f in _tagged(text)[:2]] + ["", ""]
    return tags[0].startswith("v") or (tags[0] in ("a", "ad", "d") and tags[1].startswith("v"))


def _clean(paragraph: str) -> str:
    p = BENBAO.sub("", paragraph.strip())
    return GLUED_BYLINE.sub("", p).strip()


def ends_sentence(text: str) -> bool:
    """Does ``text`` end at a sentence end: 。！？, maybe followed by closing quotes?"""
    t = text.rstrip()
    while t and t[-1] in CLOSERS:
        t = t[:-1]
    return bool(t) and t[-1] in _ENDS


@dataclass(frozen=True)
class Sentence:
    text: str
    para: int  # index of its paragraph
    first: bool  # it opens its paragraph


def candidates(body: list[str]) -> list[Sentence]:
    """The whole sentences a summary may use, in story order."""
    out: list[Sentence] = []
    for n, para in enumerate(body):
        p = _clean(para)
        if not p or (not is_closed(p) and len(p) <= 40):
            continue  # a section head, not prose
        pending = ""
        for piece in sentences(p):
            pending += piece.strip()
            if ends_sentence(pending):
                if len(pending) >= 6 and not slogan(pending):
                    out.append(Sentence(pending, n, not any(c.para == n for c in out)))
                pending = ""
    return out


def leans_back(text: str) -> bool:
    """Does the sentence point back to something before it (他…, 为此…, 该镇…, 这一问题…)?"""
    return bool(LEANS_BACK.match(text) or _BACK_NEAR.search(text[:_NEAR]))


def main_person(title: str, body: list[str]) -> str | None:
    """The one person the story is about: named in the title, or named at least three times
    and twice as often as anyone else in the story's first ``PERSON_SPAN`` characters (the
    tagger is the dear part of a summary; a portrait names its person early and often)."""
    text = "\n".join(body)[:PERSON_SPAN]
    named = Counter(people(text))
    for w in people(title):
        if named[w] or w in text:
            return w
    top = named.most_common(2)
    if not top or top[0][1] < 3 or (len(top) > 1 and top[0][1] < 2 * top[1][1]):
        return None
    return top[0][0]


def _score(sents: list[str], title: str) -> list[float]:
    kw = _keywords(f"{title}。{title}。" + "".join(sents))
    title_words = [w for w in kw if w in title]
    raw = [sum(w for k, w in kw.items() if k in s) / (1 + len(s) / 80) for s in sents]
    top = max(raw) or 1.0
    scores = []
    for i, s in enumerate(sents):
        sal = raw[i] / top
        lead = 1.0 / (1 + 0.6 * i)
        tit = sum(w in s for w in title_words) / len(title_words) if title_words else 0.0
        score = 0.45 * sal + 0.40 * lead + 0.15 * tit
        quoted = sum(len(m) for m in _QUOTED.findall(s))
        if quoted > 0.6 * len(s):
            score -= 0.25
        if len(s) < 12:
            score -= 0.3
        scores.append(score)
    return scores


def _named(sents: list[Sentence], person: str | None) -> list[str]:
    """The sentences' texts, 他 / 她 at the start given the story's main person where the
    sentence before names nobody else (他是商国亮 stays as it is)."""
    out = []
    for i, s in enumerate(sents):
        text = s.text
        if person and _PRONOUN.match(text) and person not in text:
            before = people(sents[i - 1].text) if i else []
            if all(w == person for w in before):
                text = person + text[1:]
        out.append(text)
    return out


def _fill(sents: list[Sentence], texts: list[str], order: list[int], low: int,
          high: int) -> set[int]:
    """Sentences taken in ``order`` while they fit ``high``, until ``low`` is reached; one that
    cannot stand alone only right after the sentence before it."""
    chosen: set[int] = set()
    total = 0
    for i in order:
        follows = i - 1 in chosen and sents[i - 1].para == sents[i].para
        alone = not leans_back(texts[i]) and (len(texts[i]) >= ALONE_MIN or sents[i].first)
        if not (alone or follows) or total + len(texts[i]) > high:
            continue
        chosen.add(i)
        total += len(texts[i])
        if total >= low:
            break
    return chosen


def _pick(sents: list[Sentence], texts: list[str], scores: list[float], low: int,
          high: int) -> str:
    """The best-scoring whole sentences within ``high`` characters. When they stay far short
    of ``low`` (a lead too long for the budget), each of the next best few is tried as the one
    taken first, and the first choice that reaches ``low`` wins."""
    whole = [i for i in range(len(sents)) if GAP not in texts[i]] or list(range(len(sents)))
    order = sorted(whole, key=lambda i: (-scores[i], i))
    found: set[int] = set()
    for first in order[:6]:
        chosen = _fill(sents, texts, [first] + [i for i in order if i != first], low, high)
        if chosen and sum(len(texts[i]) for i in chosen) >= (low if found else low // 2):
            found = chosen
            break
        found = found or chosen
    if not found:  # no sentence fits: the shortest that stands alone, else the shortest
        fits = [i for i in whole if not leans_back(texts[i])] or whole
        return texts[min(fits, key=lambda i: (len(texts[i]), i))]
    return "".join(texts[i] for i in sorted(found))


def summarise(title: str, body: list[str]) -> tuple[str, str]:
    """(short, long): ~80-120 characters for a news card, ~200-260 for a text reply."""
    sents = candidates(body)
    if not sents:
        text = " ".join(_clean(p) for p in body).strip() or title
        return text[:SHORT_MAX], text[:LONG_MAX]
    # the tagger over the whole story is the dear part: only when a sentence opens with 他 / 她
    person = main_person(title, body) if any(_PRONOUN.match(s.text) for s in sents) else None
    texts = _named(sents, person)
    scores = _score(texts, title)
    return (_pick(sents, texts, scores, SHORT_MIN, SHORT_MAX),
            _pick(sents, texts, scores, LONG_MIN, LONG_MAX))
