"""Search over the articles: FTS5 over jieba-segmented text, ranked by bm25.

Stories are indexed with jieba's search mode (words and their parts) and queries are cut in
precise mode with the same dictionary, so a query word meets the same word in a story however
long the story's own compound is. The plan for one query, first that finds something wins:

1. ``all``: every word of the query (AND), ranked by bm25 with the title above the body;
   when that finds little, the words' synonyms (store/data/synonyms.txt) widen it;
   ``guo long sheng`` typed by syllable is also tried as ``guolongsheng``;
2. a name or place typed with another character of the same sound (郭龙升 for 郭龙生): when
   the store knows a person or place whose full pinyin is the typed word's, the query is run
   again with that name (``corrected`` says what was replaced);
3. ``any``: any word (OR), ranked the same way;
4. ``none``: nothing; the caller offers the latest stories and help.

User text is never FTS5 syntax (see store/query.py), so any input is safe.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from store import pinyin, search_index, search_lists, search_pg
from store.db import Store
from store.query import Query, for_any, joined_pinyin, parse, widened
from store.search_index import build_from_row
from store.search_rank import Expr, count, expr_all, expr_any, match_string, rank
from store.segment import tokenizer

log = logging.getLogger(__name__)

WIDEN_BELOW = 3  # fewer hits than this for every word: add the synonyms
MAX_LIMIT = 50
SNIPPET_CHARS = 80


@dataclass
class Hit:
    article_id: int
    title: str
    summary: str  # the article's short summary (~100 chars)
    snippet: str  # text around the hit, matched terms marked with 【】
    score: float  # higher is better


@dataclass
class SearchResults:
    query: str
    hits: list[Hit]  # the requested page
    total: int  # number of matching stories
    mode: str  # "all" (every term), "any" (fallback), "none" (nothing found)
    terms: list[str] = field(default_factory=list)  # the terms searched (after synonyms/pinyin)
    subject: list[str] = field(default_factory=list)  # the words the user asked about
    corrected: list[Correction] = field(default_factory=list)  # typed words found as others


class Correction(NamedTuple):
    typed: str  # as the user wrote it: 郭龙升
    found: str  # the name or place the store knows by the same sound: 郭龙生


def search(store: Store, query: str, limit: int = 5, offset: int = 0) -> SearchResults:
    """The stories matching ``query``, best first; ``limit``/``offset`` select the page."""
    limit = max(0, min(int(limit), MAX_LIMIT))
    offset = max(0, int(offset))
    q = parse(query if isinstance(query, str) else "")
    if not q.slots:
        return SearchResults(query=q.text, hits=[], total=0, mode="none", terms=[])
    with store.pinned():
        res = _search(store, q, limit, offset)
    res.subject = q.subject
    return res


def _search(store: Store, q: Query, limit: int, offset: int) -> SearchResults:

    # what to search: the words; their pinyin run together; their synonyms when too few
    best: tuple[Query, int] | None = None
    for cand in _all_plans(q):
        n = _count(store, expr_all(cand.slots), WIDEN_BELOW)
        if n and (best is None or n > best[1]):
            best = (cand, n)
        if best and best[1] >= WIDEN_BELOW:
            break
    if best:
        return _page(store, q.text, best[0], expr_all(best[0].slots), "all", limit, offset)
    fixed = _sound_alike(store, q)
    if fixed is not None:
        corrected, fq = fixed
        res = _page(store, q.text, fq, expr_all(fq.slots), "all", limit, offset)
        res.corrected = corrected
        return res
    wide = for_any(widened(q) or q)
    if _count(store, expr_any(wide.slots), 1):
        return _page(store, q.text, wide, expr_any(wide.slots), "any", limit, offset)
    return SearchResults(query=q.text, hits=[], total=0, mode="none", terms=q.terms)


def _all_plans(q: Query) -> list[Query]:
    plans = [q]
    joined = joined_pinyin(q)
    if joined:
        plans.append(joined)
    wide = widened(q)
    if wide:
        plans.append(wide)
    return plans


def _sound_alike(store: Store, q: Query) -> tuple[list[Correction], Query] | None:
    """``q`` with each word the store does not hold replaced by the person or place it holds
    under the same full pinyin, when that finds every word; ``None`` when nothing is fixed.
    Neighbouring words are tried together first: a misspelt name is often cut in two
    (永星屯村 -> 永星 | 屯村)."""
    slots: list[list[tuple[str, ...]]] = []
    labels = dict(q.labels)
    corrected: list[Correction] = []
    if search_pg.is_pg(store.db):  # every span's names in one round trip
        search_pg.prefetch_names(store.db, [k[0] for k in map(pinyin.keys, _spans(q)) if k])
    i = 0
    while i < len(q.slots):
        for span in (3, 2, 1):
            group = q.slots[i:i + span]
            typed = _typed(q, i, span)
            if typed is None:
                continue
            if span == 1 and _count(store, expr_all(group), 1):
                continue  # a word the stories hold
            found = _known_name(store, typed)
            if found is not None:
                corrected.append(Correction(typed, found))
                fixed = parse(found)
                slots.extend(fixed.slots)
                labels.update(fixed.labels)
                i += span
                break
        else:
            slots.append(q.slots[i])
            i += 1
    if not corrected:
        return None
    fq = Query(text=q.text, slots=slots, labels=labels)
    return (corrected, fq) if _count(store, expr_all(fq.slots), 1) else None


def _typed(q: Query, i: int, span: int) -> str | None:
    """Slots ``i`` to ``i + span`` as the user typed them, when that could be a name."""
    group = q.slots[i:i + span]
    typed = "".join(q.labels.get(s[0]) or "".join(s[0]) for s in group)
    return typed if len(group) == span and 2 <= len(typed) <= 6 else None


def _spans(q: Query) -> list[str]:
    """Every word _sound_alike may look up."""
    return [t for i in range(len(q.slots)) for span in (3, 2, 1)
            if (t := _typed(q, i, span)) is not None]


def _known_name(store: Store, word: str) -> str | None:
    """The person or place of the index whose full pinyin is ``word``'s, the most mentioned."""
    keys = pinyin.keys(word)
    if not keys or len(word) > 6:
        return None
    full = keys[0]
    try:
        if search_pg.is_pg(store.db):
            rows = search_pg.name_rows(store.db, full)
        else:
            rows = store.db.execute(
                "SELECT d.name_words FROM search_docs_fts f JOIN search_docs d"
                " ON d.article_id = f.rowid WHERE search_docs_fts MATCH ? LIMIT 50",
                (f'names : "{full}"',),
            ).fetchall()
    except sqlite3.OperationalError as err:
        log.error("name lookup %r failed: %s", full, err)
        return None
    votes: dict[str, int] = {}
    known = tokenizer().FREQ
    for (name_words,) in rows:
        for entry in (name_words or "").split():
            w, _, k = entry.partition("|")
            if w != word and full in k.split(",") and _is_name_or_place(w, known):
                votes[w] = votes.get(w, 0) + 1
    return max(votes, key=lambda w: (votes[w], w)) if votes else None


def _is_name_or_place(word: str, known: dict[str, int]) -> bool:
    return pinyin.is_name(word, known) or word.endswith(pinyin.PLACE_ENDS)


def _count(store: Store, e: Expr, cap: int) -> int:
    try:
        return count(store.db, e, cap)
    except sqlite3.OperationalError as err:  # a bug in query building, not the user's fault
        log.error("search expression %r failed: %s", match_string(e), err)
        return 0


def _page(store: Store, text: str, q: Query, e: Expr, mode: str, limit: int,
          offset: int) -> SearchResults:
    ranked = rank(store, e, limit, offset)
    hits = _hits(store, q, ranked.scored)
    return SearchResults(query=text, hits=hits, total=ranked.total, mode=mode, terms=q.terms)


def _hits(store: Store, q: Query, scored: list[tuple[int, float]]) -> list[Hit]:
    if not scored:
        return []
    ids = [i for i, _ in scored]
    marks = ",".join("?" * len(ids))
    cur = store.db.execute(
        "SELECT a.id, a.title, a.summary, a.body, a.captions, a.subtitle, d.name_words"
        f" FROM articles a LEFT JOIN search_docs d ON d.article_id = a.id WHERE a.id IN ({marks})",
        ids,
    )
    found = {int(r[0]): r for r in cur.fetchall()}
    tokens = q.tokens
    out: list[Hit] = []
    for aid, score in scored:
        r = found.get(aid)
        if r is None:
            continue
        _, title, summary, body, captions, subtitle, name_words = r
        paragraphs = [subtitle or ""] + _json_list(body) + _json_list(captions)
        out.append(
            Hit(
                article_id=aid,
                title=title,
                summary=summary or "",
                snippet=snippet(paragraphs, _marks(tokens, name_words or "")) or (summary or ""),
                score=score,
            )
        )
    return out


def _json_list(v: str | None) -> list[str]:
    if not v:
        return []
    try:
        data = json.loads(v)
    except ValueError:
        return []
    return [str(x) for x in data] if isinstance(data, list) else []


def _marks(tokens: list[str], name_words: str) -> list[str]:
    """What to highlight: the query's tokens, and the names whose pinyin the user typed."""
    marks = [t for t in tokens if t]
    ascii_tokens = {t for t in tokens if t.isascii()}
    if ascii_tokens:
        for entry in name_words.split():
            w, sep, keys = entry.partition("|")
            # an index written before keys were stored beside the names: compute them
            found = keys.split(",") if sep else pinyin.keys(w)
            if ascii_tokens.intersection(found):
                marks.append(w)
    return marks


def snippet(paragraphs: list[str], marks: list[str], width: int = SNIPPET_CHARS) -> str:
    """About ``width`` characters around the first place the paragraph richest in ``marks``
    mentions one, every mark wrapped in 【】; empty when no paragraph mentions any."""
    marks = sorted({m for m in marks if m}, key=len, reverse=True)
    if not marks:
        return ""
    pattern = re.compile("|".join(re.escape(m) for m in marks), re.IGNORECASE)
    best: tuple[int, int, str, int] | None = None  # (-distinct marks, index, text, first pos)
    for i, p in enumerate(paragraphs):
        found = list(pattern.finditer(p))
        if not found:
            continue
        key = (-len({m.group(0).lower() for m in found}), i, p, found[0].start())
        if best is None or key[:2] < best[:2]:
            best = key
    if best is None:
        return ""
    _, _, text, pos = best
    start = max(0, pos - width // 4)
    end = min(len(text), start + width)
    start = max(0, min(start, end - width))
    piece = text[start:end]
    piece = pattern.sub(lambda m: f"【{m.group(0)}】", piece).replace("】【", "")
    return ("…" if start > 0 else "") + piece + ("…" if end < len(text) else "")


def index_article(store: Store, article_id: int) -> None:
    """(Re)index one article; called by store.articles inside its write transaction."""
    cur = store.db.execute("SELECT * FROM articles WHERE id = ?", (article_id,))
    row = cur.fetchone()
    if row is None:
        remove_article(store, article_id)
        return
    doc = build_from_row(dict(zip([d[0] for d in cur.description], row)))
    search_lists.forget(store.db, article_id)
    store.db["search_docs"].upsert(doc.row(), pk="article_id")
    search_lists.admit(store.db, article_id, (doc.title, doc.body, doc.names), doc.length)
    search_index.note_dictionary(store.db)


def remove_article(store: Store, article_id: int) -> None:
    """Drop one article from the index (the FTS rows follow by trigger) and the top lists."""
    search_lists.forget(store.db, article_id)
    store.db.execute("DELETE FROM search_docs WHERE article_id = ?", (article_id,))


def index_is_stale(store: Store) -> bool:
    """True when the index was cut with another dictionary: run ``newsbot reindex``."""
    return search_index.stale(store.db)


def rebuild(store: Store, progress: Callable[[int, int], None] | None = None,
            workers: int | None = None) -> int:
    """Reindex every article in one transaction; ``progress(done, total)`` after each batch;
    ``workers`` processes cut the text (default: one per core for big stores).
    Returns the number of stories indexed."""
    return search_index.rebuild(store, progress=progress, workers=workers)
