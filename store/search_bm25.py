"""FTS5's bm25, computed outside FTS5: the same statistics, formula and column weights.

``bm25()`` in FTS5 scores a story as the sum over the query's phrases of
``idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len / avgdl))`` with ``f`` the column-weighted
count of the phrase in the story, ``len`` its tokens in all columns, ``avgdl`` the average, and
``idf = log((N - n + 0.5) / (n + 0.5))`` (a tiny positive number when not positive). FTS5
returns it negated; here higher is better. The top lists and the threshold algorithm in
store/search_rank.py use these functions; tests check they agree with FTS5 to the last digits.
"""

from __future__ import annotations

import math
from typing import Any

import sqlite_utils

K1, B = 1.2, 0.75
WEIGHTS = (10.0, 1.0, 4.0)  # title, body, names (people, places, pinyin), as in FTS_COLUMNS
FTS = "search_docs_fts"


def weights_sql() -> str:
    return ", ".join(str(w) for w in WEIGHTS)


def fts_string(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _varints(blob: bytes) -> list[int]:
    """SQLite varints (as FTS5 writes its averages record)."""
    out, i = [], 0
    while i < len(blob):
        v = 0
        for n in range(9):
            b = blob[i]
            i += 1
            if n == 8:
                v = (v << 8) | b
                break
            v = (v << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        out.append(v)
    return out


def stats(db: sqlite_utils.Database) -> tuple[int, float]:
    """(stories in the index, average tokens per story) from FTS5's averages record."""
    if getattr(db, "engine", "") == "postgres":
        from store import search_pg  # here: store.search_pg imports this module

        return search_pg.stats(db)
    row = db.execute(f"SELECT block FROM {FTS}_data WHERE id = 1").fetchone()
    if not row or not row[0]:
        return 0, 0.0
    v = _varints(bytes(row[0]))
    nrow = v[0]
    return nrow, (sum(v[1:]) / nrow if nrow else 0.0)


def idf(nrow: int, n: int) -> float:
    v = math.log((nrow - n + 0.5) / (n + 0.5)) if nrow else 0.0
    return v if v > 0 else 1e-6


def impact(f: float, dl: int, avgdl: float) -> float:
    return f * (K1 + 1) / (f + K1 * (1 - B + B * dl / avgdl)) if f > 0 else 0.0


def weighted_tf(cols: tuple[str, str, str], t: str, spaced: bool = False) -> float:
    """How often token ``t`` occurs in a story's (title, body, names), column-weighted.

    Columns are space-separated tokens; doubling the spaces (``spaced``: already done) lets a
    plain substring count, in C, see every occurrence, neighbours included."""
    needle = f" {t} "
    if not spaced:
        cols = tuple(f"  {c.replace(' ', '  ')}  " if c else "" for c in cols)  # type: ignore[assignment]
    return sum(w * c.count(needle) for w, c in zip(WEIGHTS, cols) if c)


def unwrap(e: Any) -> Any:
    """An expression without its one-child AND/OR wrappers."""
    while not isinstance(e, str) and len(e[1]) == 1:
        e = e[1][0]
    return e


def grouped(e: Any) -> bool:
    """Whether an OR in expression ``e`` offers a group of words (党的建设 | 党 AND 建设): FTS5
    then counts a word only where its whole group matched, which a plain sum cannot say."""
    if isinstance(e, str):
        return False
    kids = [unwrap(c) for c in e[1]]
    if e[0] == "or" and any(not isinstance(k, str) and k[0] == "and" for k in kids):
        return True
    return any(grouped(k) for k in kids)


def group_score(e: Any, impacts: dict[str, float], idfs: dict[str, float],
                maybe: bool = False) -> tuple[bool, float]:
    """(matches, bm25) of a story holding words with ``impacts`` as FTS5 sums it: each place a
    word holds in ``e`` adds ``idf * impact`` when every group around it matched. ``maybe``:
    the impacts are the most the words could have (a bound), a word without one is absent."""
    if isinstance(e, str):
        v = impacts.get(e)
        held = v is not None if maybe else bool(v)
        return held, idfs[e] * (v or 0.0)
    parts = [group_score(c, impacts, idfs, maybe) for c in e[1]]
    if e[0] == "and":
        ok = all(m for m, _ in parts)
        return ok, (sum(x for _, x in parts) if ok else 0.0)
    return any(m for m, _ in parts), sum(x for m, x in parts if m)


def match_bounds(e: Any, dfs: dict[str, int], counted_to: int | None = None) -> tuple[int, float]:
    """(at least, at most) how many stories match expression ``e``, from its words' story
    counts; a count past ``counted_to`` was stopped there (the word may hold any number more)."""
    if isinstance(e, str):
        n = dfs[e]
        return n, (math.inf if counted_to is not None and n > counted_to else n)
    parts = [match_bounds(c, dfs, counted_to) for c in e[1]]
    if len(parts) == 1:
        return parts[0]
    if e[0] == "and":
        return 0, min(h for _, h in parts)
    return max(lo for lo, _ in parts), sum(h for _, h in parts)
