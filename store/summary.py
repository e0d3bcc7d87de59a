"""Extractive summaries: the story's own sentences, chosen by position and salience.

How a sentence is chosen:

- Candidates are the sentences of the prose paragraphs (``store.text.sentences``, which keeps
  quoted speech whole). Section heads (lines without final punctuation), bylines, photo credits
  and 本报讯 markers never become candidates; captions are not in the body at all.
- Each candidate gets ``0.45 * salience + 0.40 * lead + 0.15 * title``:
  salience is the sum of the story's jieba TF-IDF keyword weights the sentence holds, damped by
  its length and scaled to 0..1 over the story; lead is 1 for the first sentence and falls
  with position (news puts the point first); title is the share of the headline's words the
  sentence repeats. A sentence that is mostly a quotation loses 0.25 (a quoted lede is colour,
  not the point), a very short one loses 0.3, one that leans on the sentence before (为此…,
  他…) loses 0.15.
- The best sentences are taken until the length budget is used (``SHORT_MAX`` for a news card,
  ``LONG_MAX`` for a text reply) and printed in story order. A first choice longer than the
  budget is cut at a clause boundary and ends with "…".
"""

from __future__ import annotations

import re
import threading

from store.ingest_blocks import BENBAO, GLUED_BYLINE
from store.text import is_closed, sentences

SHORT_MIN, SHORT_MAX = 80, 120
LONG_MIN, LONG_MAX = 200, 260

_QUOTED = re.compile(r"“[^“”]*”|「[^「」]*」")

_LEANS_BACK = re.compile(r"^(?:为此|此外|同时|因此|对此|与此同时|其中|但|而|这|他|她|它|该)")

_lock = threading.Lock()
_tfidf = None


def _keywords(text: str, top: int = 25) -> dict[str, float]:
    """TF-IDF keyword weights with the project's tokenizer (user dictionary loaded)."""
    global _tfidf
    if _tfidf is None:
        with _lock:
            if _tfidf is None:
                # imported here: jieba's TF-IDF model is heavy, and only summaries use it
                import jieba.analyse

                from store.segment import tokenizer

                t = jieba.analyse.TFIDF()
                t.tokenizer = tokenizer()
                t.postokenizer.tokenizer = t.tokenizer
                _tfidf = t
    return dict(_tfidf.extract_tags(text, topK=top, withWeight=True))


def _clean(paragraph: str) -> str:
    p = BENBAO.sub("", paragraph.strip())
    return GLUED_BYLINE.sub("", p).strip()


def candidates(body: list[str]) -> list[str]:
    """The sentences a summary may use, in story order."""
    out: list[str] = []
    for para in body:
        p = _clean(para)
        if not p or (not is_closed(p) and len(p) <= 40):
            continue  # a section head, not prose
        for s in sentences(p):
            s = s.strip()
            if len(s) >= 6 and is_closed(s) and not s.endswith("—"):
                out.append(s)
    return out


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
        if i and _LEANS_BACK.match(s):
            score -= 0.15  # 为此…, 他…: reads wrong without the sentence before
        scores.append(score)
    return scores


def _cut(sentence: str, limit: int) -> str:
    """``sentence`` shortened to ``limit`` characters at the last clause boundary, with …"""
    if len(sentence) <= limit:
        return sentence
    head = sentence[: limit - 1]
    at = max(head.rfind(c) for c in "，,；;：:、")
    if at >= limit // 2:
        head = head[:at]
    return head.rstrip("，,；;：:、 ") + "…"


def _pick(sents: list[str], scores: list[float], low: int, high: int) -> str:
    order = sorted(range(len(sents)), key=lambda i: (-scores[i], i))
    chosen: list[int] = []
    total = 0
    for i in order:
        n = len(sents[i])
        if total + n <= high:
            chosen.append(i)
            total += n
        elif not chosen:
            return _cut(sents[i], high)
        if total >= low:
            break
    return "".join(sents[i] for i in sorted(chosen))


def summarise(title: str, body: list[str]) -> tuple[str, str]:
    """(short, long): ~80-120 characters for a news card, ~200-260 for a text reply."""
    sents = candidates(body)
    if not sents:
        text = " ".join(_clean(p) for p in body).strip() or title
        return _cut(text, SHORT_MAX), _cut(text, LONG_MAX)
    scores = _score(sents, title)
    return _pick(sents, scores, SHORT_MIN, SHORT_MAX), _pick(sents, scores, LONG_MIN, LONG_MAX)
