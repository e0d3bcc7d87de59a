"""Ranking with bm25 without scoring every match.

FTS5's ``bm25()`` is exact but costs a call per matching row, and the words people search for
most (党建, 社区, 党员, 主题教育) are in most stories: ranking them all costs time that grows
with the store. The score is a sum over the query's
words of ``idf(word) * impact(word, story)``, where the impact depends only on the story
(weighted count of the word, story length against the average). So:

* a query that needs a rare word (in ``RARE_DF`` stories or fewer) has few matches: FTS5's
  bm25 ranks them;
* a common word has a *top list* (store/search_lists.py): its best stories by impact and a
  floor no other story exceeds. A query over common words (rare ones join as complete lists
  made on the spot) runs Fagin's threshold algorithm: read the lists best first, score each new
  story exactly (from the lists, or by counting the words in its stored tokens when its bound
  can still reach the page), stop when the page's last score beats anything unread could
  reach: the page is then exactly bm25's;
* when that proof would cost more than ``DEPTH`` list entries or ``LOOKUPS`` counted stories
  (several very common words whose best stories differ), the page is the best of the stories
  read, each with its true score (method "lists~"); a deep page, or too few stories in the
  lists, goes to FTS5.

Scores are FTS5's own bm25 (same k1, b, idf, column weights, average length), negated so
that higher is better; tests check the two paths give the same pages.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from store import search_lists, search_pg
from store.search_bm25 import (
    FTS,
    fts_string,
    group_score,
    grouped,
    idf,
    impact,
    match_bounds,
    stats,
    weighted_tf,
    weights_sql,
)
from store.search_lists import TopList, top_list

RARE_DF = 1000  # a word in at most this many stories has no top list; FTS5 ranks its matches
COUNT_CAP = 1000  # beyond this many matches of a many-word query, the total is estimated
BATCH = 32  # stories read from each list per round
LOOKUPS = 64  # stories counted from their tokens, at most, for one page
DEPTH = 384  # list entries read, at most, for one page

# An expression: ("and"|"or", [children]) or a token (str).
Expr = Any
# expressions being ranked that are a plain AND or OR of tokens: evaluated without recursion
_FLAT: dict[int, tuple[str, list[str]]] = {}
# expressions being ranked whose ORs offer groups of words: each word's idf, to score them as
# FTS5 does (store/search_bm25.group_score); the others are plain sums over the words
_GROUPED: dict[int, dict[str, float]] = {}


@dataclass
class Ranked:
    scored: list[tuple[int, float]]  # (article id, score), best first
    total: int
    method: str  # "fts" (bm25 over every match), "lists" (top lists, exact), "lists~" (best
    # of the top lists: several very common words whose lists could not prove the page)


def expr_all(slots: list[list[tuple[str, ...]]]) -> Expr:
    return ("and", [("or", [("and", list(alt)) for alt in slot]) for slot in slots])


def expr_any(slots: list[list[tuple[str, ...]]]) -> Expr:
    return ("or", [("and", list(alt)) for slot in slots for alt in slot])


def phrases(e: Expr) -> list[str]:
    """Tokens in expression order, repeats kept: bm25 sums over every phrase of the query."""
    if isinstance(e, str):
        return [e]
    return [t for c in e[1] for t in phrases(c)]


def _flat(e: Expr) -> tuple[str, list[str]] | None:
    """("and"|"or", tokens) when the expression is one of those over single tokens."""
    if isinstance(e, str):
        return ("and", [e])
    kids = [_flat(c) for c in e[1]]
    if any(k is None for k in kids):
        return None
    toks = [t for k in kids for t in k[1]]  # type: ignore[index]
    if all(len(k[1]) == 1 or k[0] == e[0] for k in kids):  # type: ignore[index]
        return (e[0], toks)
    return None


def _eval(e: Expr, state: dict[str, bool | None]) -> bool | None:
    """Three-valued match: True, False, or None (not known yet)."""
    if isinstance(e, str):
        return state[e]
    flat = _FLAT.get(id(e))
    if flat is not None:
        vals = [state[t] for t in flat[1]]
        if flat[0] == "and":
            return False if False in vals else (None if None in vals else True)
        return True if True in vals else (None if None in vals else False)
    vals = [_eval(c, state) for c in e[1]]
    if e[0] == "and":
        if any(v is False for v in vals):
            return False
        return True if all(v is True for v in vals) else None
    if any(v is True for v in vals):
        return True
    return False if all(v is False for v in vals) else None


def _fts_string(e: Expr) -> str:
    if isinstance(e, str):
        return fts_string(e)
    parts = [_fts_string(c) for c in e[1]]
    return parts[0] if len(parts) == 1 else "(" + f" {e[0].upper()} ".join(parts) + ")"


def match_string(e: Expr) -> str:
    return _fts_string(e)


def count(db: sqlite_utils.Database, e: Expr, cap: int) -> int:
    """Matching stories, counting no further than ``cap``."""
    if search_pg.is_pg(db):
        return search_pg.count(db, e, cap)
    row = db.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {FTS} WHERE {FTS} MATCH ? LIMIT ?)",
        (match_string(e), cap),
    ).fetchone()
    return int(row[0])


def rank(store: Any, e: Expr, limit: int, offset: int) -> Ranked:
    """The page ``offset:offset+limit`` of the stories matching ``e``, by bm25."""
    db = store.db
    toks = list(dict.fromkeys(phrases(e)))
    nrow, avgdl = stats(db)
    dfs = doc_freqs(store, toks, nrow, avgdl)
    hot = [t for t in toks if dfs[t] > RARE_DF]
    # can a story match without any rare word? then the matches are many: use the lists
    common = _eval(e, {t: None if dfs[t] > RARE_DF else False for t in toks}) is not False
    need = offset + limit
    if hot and common and need <= search_lists.LIST_SIZE // 2:
        got = _rank_lists(store, e, toks, dfs, nrow, avgdl, need)
        if got is not None:
            page, exact = got
            if len(toks) == 1 and len(phrases(e)) == 1:
                total = dfs[toks[0]]
            else:
                total = _total(db, e, dfs, nrow)
            return Ranked(page[offset:need], total, "lists" if exact else "lists~")
    return rank_fts(db, e, limit, offset, dfs, nrow)


def doc_freqs(store: Any, toks: list[str], nrow: int, avgdl: float) -> dict[str, int]:
    """Stories holding each token: counted by FTS5 up to RARE_DF; past that the word is
    common and its count is kept with its top list (FTS5's own count walks every match)."""
    out: dict[str, int] = {}
    if search_pg.is_pg(store.db):  # the counts, then the common words' rows: a statement each
        firsts = search_pg.counts(store.db, toks, RARE_DF + 1)
        search_lists.hot_rows(store, [t for t in toks if firsts[t] > RARE_DF])
    else:
        firsts = {t: count(store.db, t, RARE_DF + 1) for t in toks}
    for t in toks:
        n = firsts[t]
        out[t] = n if n <= RARE_DF else search_lists.doc_freq(store, t, nrow, avgdl)
    return out


def _total(db: sqlite_utils.Database, e: Expr, dfs: dict[str, int], nrow: int) -> int:
    """Matching stories: counted up to COUNT_CAP, estimated past it. An OR holding a word
    of more stories than that needs no count (walking a common word's matches is the cost)."""
    low = match_bounds(e, dfs)[0]
    if low > COUNT_CAP:
        return max(low, _estimate(e, dfs, nrow))
    n = count(db, e, COUNT_CAP + 1)
    return n if n <= COUNT_CAP else max(n, _estimate(e, dfs, nrow))


def _estimate(e: Expr, dfs: dict[str, int], nrow: int) -> int:
    """Matches expected if words fell independently (for a total past COUNT_CAP)."""

    def p(x: Expr) -> float:
        if isinstance(x, str):
            return dfs[x] / nrow if nrow else 0.0
        ps = [p(c) for c in x[1]]
        if x[0] == "and":
            return math.prod(ps)
        return 1 - math.prod(1 - v for v in ps)

    return round(p(e) * nrow)


def rank_fts(db: sqlite_utils.Database, e: Expr, limit: int, offset: int,
             dfs: dict[str, int] | None = None, nrow: int = 0) -> Ranked:
    """bm25 over every match, by FTS5 (exact; the cost grows with the matches)."""
    if search_pg.is_pg(db):
        nrow = nrow or search_pg.stats(db)[0]
        toks = list(dict.fromkeys(phrases(e)))
        missing = [t for t in toks if t not in (dfs or {})]
        dfs = {**search_pg.counts(db, missing, nrow + 1), **(dfs or {})}
        page = search_pg.scored(db, e, search_pg.token_idfs(e, nrow, dfs), limit, offset)
        rows = [(a, -s) for a, s in page]
    else:
        rows = db.execute(
            f"SELECT rowid, bm25({FTS}, {weights_sql()}) AS r FROM {FTS} WHERE {FTS} MATCH ?"
            " ORDER BY r, rowid DESC LIMIT ? OFFSET ?",
            (match_string(e), limit, offset),
        ).fetchall()
    if dfs and nrow and all(t in dfs for t in phrases(e)):
        total = _total(db, e, dfs, nrow)
    else:
        total = count(db, e, COUNT_CAP + 1)
    return Ranked([(int(a), -float(r)) for a, r in rows], total, "fts")


def _rank_lists(store: Any, e: Expr, toks: list[str], dfs: dict[str, int], nrow: int,
                avgdl: float, need: int) -> tuple[list[tuple[int, float]], bool] | None:
    """Fagin's threshold algorithm over the words' top lists.

    Lists are read best first, a batch at a time. A story found in every list it needs is
    scored from the lists; one missing from a list holds at most that list's floor there, so
    it is counted from its tokens only if that bound could still put it in the page. Stop when
    the ``need``-th best score beats the most any story not yet read could score: the page is
    then exactly bm25's. Returns (page, exact). When the proof would need reading past
    ``DEPTH`` or more than ``LOOKUPS`` stories counted, the best stories read so far are
    returned with exact=False (None when fewer than a page were found: ask FTS5)."""
    coef: dict[str, float] = {}
    for t in phrases(e):
        coef[t] = coef.get(t, 0.0) + idf(nrow, dfs[t])
    flat = _flat(e)
    if flat is not None:
        _FLAT[id(e)] = flat
    if grouped(e):
        _GROUPED[id(e)] = {t: idf(nrow, dfs[t]) for t in toks}
    try:
        return _ta(store, e, toks, dfs, nrow, avgdl, need, coef)
    finally:
        _FLAT.pop(id(e), None)
        _GROUPED.pop(id(e), None)


def _ta(store: Any, e: Expr, toks: list[str], dfs: dict[str, int], nrow: int, avgdl: float,
        need: int, coef: dict[str, float]) -> tuple[list[tuple[int, float]], bool] | None:
    db = store.db
    lists = {
        t: top_list(store, t, nrow, avgdl) if dfs[t] > RARE_DF else _rare_list(db, t, nrow, dfs[t])
        for t in toks if dfs[t] > 0
    }
    absent = {t: False for t in toks if dfs[t] == 0}
    longest = max(len(tl.order) for tl in lists.values())

    def threshold(depth: int) -> float:
        return _threshold(e, lists, absent, coef, depth)

    best: list[tuple[float, int]] = []  # min-heap of the `need` best (score, id)
    pending: list[tuple[float, int]] = []  # (upper bound, id): read, not yet scored
    seen: set[int] = set()
    depth = looked = 0
    while True:
        for tl in lists.values():
            for _, d in tl.order[depth:depth + BATCH]:
                if d in seen:
                    continue
                seen.add(d)
                m, s, ub = _partial(e, lists, absent, coef, d)
                if m is True and not ub:  # every word's part is known: the exact score
                    _keep(best, need, s, d)
                elif m is not False:
                    pending.append((s + ub, d))
        depth += BATCH
        kth = best[0][0] if len(best) >= need else -math.inf
        # count the stories whose bound still reaches the page, most promising first
        pending = sorted((p for p in pending if p[0] >= kth), reverse=True)
        while pending and pending[0][0] >= kth and looked < LOOKUPS:
            chunk = [d for _, d in pending[:BATCH]]
            pending = pending[BATCH:]
            looked += len(chunk)
            for d, s in _exact(db, chunk, toks, coef, e, avgdl).items():
                _keep(best, need, s, d)
            kth = best[0][0] if len(best) >= need else -math.inf
        settled = not pending or pending[0][0] < kth
        if settled and kth > threshold(depth):
            return _ordered(best), True
        if looked >= LOOKUPS or depth >= min(longest, DEPTH):
            if depth >= longest and settled and kth > threshold(longest):
                return _ordered(best), True
            if len(best) < need:
                return None
            return _ordered(best), False


def _threshold(e: Expr, lists: dict[str, TopList], absent: dict[str, bool], coef: dict[str, float],
               depth: int) -> float:
    """The most a story not read by ``depth`` could score (-inf: none can match)."""
    state: dict[str, bool | None] = dict(absent)
    most: dict[str, float] = {}
    ub = 0.0
    for t, tl in lists.items():
        if depth < len(tl.order):
            state[t] = None
            most[t] = tl.order[depth][0]
        elif tl.complete:
            state[t] = False
        else:
            state[t] = None
            most[t] = tl.bound
        ub += coef[t] * most.get(t, 0.0)
    if _eval(e, state) is False:
        return -math.inf
    idfs = _GROUPED.get(id(e))
    return ub if idfs is None else group_score(e, most, idfs, maybe=True)[1]


def _partial(e: Expr, lists: dict[str, TopList], absent: dict[str, bool], coef: dict[str, float],
             d: int) -> tuple[bool | None, float, float]:
    """What the lists read so far say of story ``d``: whether it matches (``None``: not known
    yet), the score of its words found, and the most its other words could add."""
    state: dict[str, bool | None] = dict(absent)
    found: dict[str, float] = {}
    s = ub = 0.0
    for t, other in lists.items():
        v = other.entries.get(d)
        if v is not None:
            state[t] = True
            found[t] = v
            s += coef[t] * v
        elif other.complete:
            state[t] = False
        else:
            state[t] = None
            ub += coef[t] * other.bound
    m = _eval(e, state)
    idfs = _GROUPED.get(id(e))
    if idfs is not None and m is not False:  # FTS5's sum: a group counts where it matched
        s = group_score(e, found, idfs)[1]
        if ub:
            bounds = {t: other.bound for t, other in lists.items() if state.get(t) is None}
            ub = max(0.0, group_score(e, {**found, **bounds}, idfs, maybe=True)[1] - s)
    return m, s, ub


def _rare_list(db: sqlite_utils.Database, t: str, nrow: int, n: int) -> TopList:
    """A complete list of a rare word, on the spot: FTS5 scores its few stories."""
    rows = search_pg.term_bm25(db, t, n) if search_pg.is_pg(db) else db.execute(
        f"SELECT rowid, bm25({FTS}, {weights_sql()}) FROM {FTS} WHERE {FTS} MATCH ?",
        (fts_string(t),),
    )
    i = idf(nrow, n)
    return TopList({int(a): -r / i for a, r in rows}, 0.0, True)


def _ordered(best: list[tuple[float, int]]) -> list[tuple[int, float]]:
    return sorted(((d, s) for s, d in best), key=lambda x: (-x[1], -x[0]))


def _keep(best: list[tuple[float, int]], need: int, s: float, d: int) -> None:
    if len(best) < need:
        heapq.heappush(best, (s, d))
    elif (s, d) > best[0]:
        heapq.heapreplace(best, (s, d))


def _exact(db: sqlite_utils.Database, ids: list[int], toks: list[str], coef: dict[str, float],
           e: Expr, avgdl: float) -> dict[int, float]:
    """Exact scores of the stories that match, from each story's count of each word: on
    PostgreSQL its rows of search_terms, here the words counted in its stored tokens."""
    if search_pg.is_pg(db):
        counted = search_pg.word_counts(db, ids, toks)
    else:
        counted = {}
        q = ("SELECT article_id, title, body, names, length FROM search_docs"
             f" WHERE article_id IN ({','.join('?' * len(ids))})")
        for a, title, body, names, dl in db.execute(q, ids):
            cols = tuple(f"  {c.replace(' ', '  ')}  " if c else "" for c in (title, body, names))
            counted[int(a)] = (dl, {t: weighted_tf(cols, t, spaced=True)  # type: ignore[arg-type]
                                    for t in toks})
    out: dict[int, float] = {}
    idfs = _GROUPED.get(id(e))
    for a, (dl, fs) in counted.items():
        if idfs is not None:
            ok, s = group_score(e, {t: impact(fs.get(t, 0.0), dl, avgdl) for t in toks}, idfs)
            if ok:
                out[a] = s
            continue
        state: dict[str, bool | None] = {}
        s = 0.0
        for t in toks:
            f = fs.get(t, 0.0)
            state[t] = f > 0
            s += coef[t] * impact(f, dl, avgdl)
        if _eval(e, state):
            out[a] = s
    return out
