"""Ranking with bm25 without scoring every match.

FTS5's ``bm25()`` is exact but costs a call per matching row, and the words people search for
most (党建, 社区, 党员, 主题教育) are in most stories: ranking them all takes tens of
milliseconds at 20,000 stories and grows with the store. The score is a sum over the query's
words of ``idf(word) * impact(word, story)``, where the impact depends only on the story
(weighted count of the word, story length against the average). So:

* a word in few stories (``RARE_DF``) is ranked by FTS5 itself: few rows, cheap;
* a word in many stories gets a *top list*: its ``LIST_SIZE`` stories of highest impact, kept
  in ``search_top`` (built from FTS5 on first use, kept current on every save and delete),
  plus a *floor*, the highest impact of any story left out;
* a query over such words is answered by a threshold algorithm (Fagin's TA): candidates from
  the lists, highest possible score first, each scored exactly (from the list, or by counting
  the word in its stored tokens); it stops as soon as the k-th best exact score beats what any
  story not yet scored could reach, so the answer is the same as bm25 over every match. If the
  lists cannot prove that (a deep page, an odd mix), it falls back to FTS5's full ranking.

Scores are FTS5's own bm25 (same k1, b, idf, column weights, average length), negated so
that higher is better; tests check the two paths give the same pages.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from store.search_bm25 import FTS, K1, df, fts_string, idf, impact, stats, weighted_tf, weights_sql
from store import search_lists
from store.search_lists import TopList, top_list

RARE_DF = 1000  # at most this many matches to score: FTS5's bm25 does it directly
COUNT_CAP = 1000  # beyond this many matches of a many-word query, the total is estimated
BATCH = 32  # stories scored per look-up

# An expression: ("and"|"or", [children]) or a token (str).
Expr = Any


@dataclass
class Ranked:
    scored: list[tuple[int, float]]  # (article id, score), best first
    total: int
    method: str  # "fts" (bm25 over every match) or "lists" (top lists, exact)


def expr_all(slots: list[list[tuple[str, ...]]]) -> Expr:
    return ("and", [("or", [("and", list(alt)) for alt in slot]) for slot in slots])


def expr_any(slots: list[list[tuple[str, ...]]]) -> Expr:
    return ("or", [("and", list(alt)) for slot in slots for alt in slot])


def phrases(e: Expr) -> list[str]:
    """Tokens in expression order, repeats kept: bm25 sums over every phrase of the query."""
    if isinstance(e, str):
        return [e]
    return [t for c in e[1] for t in phrases(c)]


def _eval(e: Expr, state: dict[str, bool | None]) -> bool | None:
    """Three-valued match: True, False, or None (not known yet)."""
    if isinstance(e, str):
        return state[e]
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


def _upper_matches(e: Expr, dfs: dict[str, int]) -> int:
    """At most how many stories can match (AND: the smallest part; OR: the sum)."""
    if isinstance(e, str):
        return dfs[e]
    vals = [_upper_matches(c, dfs) for c in e[1]]
    return min(vals) if e[0] == "and" else sum(vals)


def count(db: sqlite_utils.Database, e: Expr, cap: int) -> int:
    """Matching stories, counting no further than ``cap``."""
    row = db.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {FTS} WHERE {FTS} MATCH ? LIMIT ?)",
        (match_string(e), cap),
    ).fetchone()
    return int(row[0])


def rank(store: Any, e: Expr, limit: int, offset: int) -> Ranked:
    """The page ``offset:offset+limit`` of the stories matching ``e``, by bm25."""
    db = store.db
    toks = list(dict.fromkeys(phrases(e)))
    dfs = df(db, toks)
    if _upper_matches(e, dfs) <= RARE_DF or offset + limit > search_lists.LIST_SIZE // 2:
        return rank_fts(db, e, limit, offset)
    nrow, avgdl = stats(db)
    got = _rank_lists(store, e, toks, dfs, nrow, avgdl, offset + limit)
    if got is None:
        return rank_fts(db, e, limit, offset)
    if isinstance(e, str) or len(toks) == 1 and len(phrases(e)) == 1:
        total = dfs[toks[0]]
    else:
        total = count(db, e, COUNT_CAP + 1)
        if total > COUNT_CAP:
            total = max(total, _estimate(e, dfs, nrow))
    return Ranked(got[offset:offset + limit], total, "lists")


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


def rank_fts(db: sqlite_utils.Database, e: Expr, limit: int, offset: int) -> Ranked:
    """bm25 over every match, by FTS5 (exact; the cost grows with the matches)."""
    m = match_string(e)
    rows = db.execute(
        f"SELECT rowid, bm25({FTS}, {weights_sql()}) AS r FROM {FTS} WHERE {FTS} MATCH ?"
        " ORDER BY r, rowid DESC LIMIT ? OFFSET ?",
        (m, limit, offset),
    ).fetchall()
    total = db.execute(f"SELECT count(*) FROM {FTS} WHERE {FTS} MATCH ?", (m,)).fetchone()[0]
    return Ranked([(int(a), -float(r)) for a, r in rows], int(total), "fts")


def _rank_lists(store: Any, e: Expr, toks: list[str], dfs: dict[str, int], nrow: int,
                avgdl: float, need: int) -> list[tuple[int, float]] | None:
    """Fagin's threshold algorithm over the words' lists; None when it cannot decide."""
    db = store.db
    coef: dict[str, float] = {}
    for t in phrases(e):
        coef[t] = coef.get(t, 0.0) + idf(nrow, dfs[t])
    lists: dict[str, TopList] = {}
    members: dict[str, set[int]] = {}  # rare words: every story that has them, impact unknown
    for t in toks:
        if dfs[t] == 0:
            members[t] = set()
        elif dfs[t] <= RARE_DF:
            members[t] = {int(r[0]) for r in db.execute(
                f"SELECT rowid FROM {FTS} WHERE {FTS} MATCH ?", (match_string(t),))}
        else:
            lists[t] = top_list(store, t, dfs[t], nrow, avgdl)

    def look(d: int | None) -> tuple[bool | None, float, bool]:
        """(match, upper bound of the score, exact?) from what the lists tell about story d."""
        state: dict[str, bool | None] = {}
        ub = 0.0
        exact = True
        for t in toks:
            if t in lists:
                tl = lists[t]
                v = tl.entries.get(d) if d is not None else None
                if v is not None:
                    state[t] = True
                    ub += coef[t] * v
                elif tl.complete:
                    state[t] = False
                else:
                    state[t] = None
                    ub += coef[t] * tl.bound
                    exact = False
            elif d is not None and d in members[t]:
                state[t] = True
                ub += coef[t] * (K1 + 1)
                exact = False
            else:
                state[t] = False
        return _eval(e, state), ub, exact

    cands = set().union(*(tl.entries for tl in lists.values()), *members.values())
    unseen_match, unseen_ub, _ = look(None)
    queue = []
    for d in cands:
        m, ub, exact = look(d)
        if m is not False:
            queue.append((-ub, -d, exact))
    queue.sort()
    best: list[tuple[float, int]] = []  # min-heap of (score, id) of the `need` best so far

    def kth() -> float:
        return best[0][0] if len(best) >= need else -math.inf

    i = 0
    while i < len(queue):
        ub = -queue[i][0]
        if kth() > ub:
            break
        batch = queue[i:i + BATCH]
        i += len(batch)
        todo = [-d for _, d, exact in batch if not exact]
        scored = _exact(db, todo, toks, coef, e, avgdl) if todo else {}
        for neg_ub, neg_d, exact in batch:
            d = -neg_d
            s = -neg_ub if exact else scored.get(d)
            if s is None:
                continue
            if len(best) < need:
                heapq.heappush(best, (s, d))
            elif (s, d) > best[0]:
                heapq.heapreplace(best, (s, d))
    if unseen_match is not False and not kth() > unseen_ub:
        return None  # a story outside every list might still belong in the page
    return sorted(((d, s) for s, d in best), key=lambda x: (-x[1], -x[0]))


def _exact(db: sqlite_utils.Database, ids: list[int], toks: list[str], coef: dict[str, float],
           e: Expr, avgdl: float) -> dict[int, float]:
    """Exact scores of the stories that match, by counting the words in their stored tokens."""
    out: dict[int, float] = {}
    q = ("SELECT article_id, title, body, names, length FROM search_docs"
         f" WHERE article_id IN ({','.join('?' * len(ids))})")
    for a, title, body, names, dl in db.execute(q, ids):
        cols = (title, body, names)
        state: dict[str, bool | None] = {}
        s = 0.0
        for t in toks:
            f = weighted_tf(cols, t)
            state[t] = f > 0
            s += coef[t] * impact(f, dl, avgdl)
        if _eval(e, state):
            out[int(a)] = s
    return out
