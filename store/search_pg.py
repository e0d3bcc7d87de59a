"""Search on the PostgreSQL store: FTS5's pieces, answered from impact data and a word index.

The SQLite engine ranks with FTS5's bm25 and, for common words, with top lists of impacts
(store/search_rank.py). PostgreSQL has no bm25: ``ts_rank`` weighs words differently, so the
same query would rank other stories first. Instead the PostgreSQL schema keeps what bm25 needs,
per story and word: the column-weighted count ``f`` (``search_terms``, filled by a trigger on
``search_docs`` from the same pre-cut columns FTS5 reads) and the collection's totals
(``search_stats``); and, to find the stories holding several words at once, each story's words
as a tsvector under a GIN index (``search_match``). The few FTS5 calls of the engine are
answered from them with the same formula (store/search_bm25.py); the plan, the top lists and
the threshold algorithm above them are the engine's own, shared by both backends.
docs/search.md says why each piece is there.

An expression is ``("and"|"or", [children])`` or a token, as in store/search_rank.py.
"""

from __future__ import annotations

import math
from typing import Any

from store.search_bm25 import K1, B, group_score, grouped, idf, match_bounds, unwrap

Expr = Any


def is_pg(db: Any) -> bool:
    return getattr(db, "engine", "") == "postgres"


def kept(db: Any, key: str) -> dict[Any, Any]:
    """A dict kept for the rest of the thread's pinned operation (a search), for what it reads
    more than once; a fresh one, kept nowhere, when nothing is pinned (or on SQLite)."""
    store = getattr(db, "store", None)
    memo = store.pinned_memo() if store is not None else None
    return memo.setdefault(key, {}) if memo is not None else {}


def stats(db: Any) -> tuple[int, float]:
    """(stories in the index, average tokens per story), read once per pinned operation: a
    search needs them in several places and they move only when stories do."""
    known = kept(db, "stats")
    if "stats" not in known:
        row = db.execute("SELECT nrow, total FROM search_stats WHERE id = 1").fetchone()
        known["stats"] = (0, 0.0) if not row or not row[0] else (
            int(row[0]), int(row[1]) / int(row[0]))
    return known["stats"]  # type: ignore[no-any-return]


def _tokens(e: Expr) -> list[str]:
    if isinstance(e, str):
        return [e]
    return [t for c in e[1] for t in _tokens(c)]


MATCH_BYTES = 1000  # words longer than this are left out of search_match (store/pg_schema.py)


def _tsquery(e: Expr) -> str | None:
    """``e`` as a tsquery of verbatim lexemes (quoted: no parser or dictionary touches them),
    or ``None`` when a word is too long for search_match."""
    if isinstance(e, str):
        t = e.lower()
        if len(t.encode("utf-8")) > MATCH_BYTES:
            return None
        return "'" + t.replace("\\", "\\\\").replace("'", "''") + "'"
    parts = [_tsquery(c) for c in e[1]]
    if any(p is None for p in parts):
        return None
    if len(parts) == 1:
        return parts[0]
    return "(" + (" & " if e[0] == "and" else " | ").join(parts) + ")"  # type: ignore[arg-type]


COMMON = 1000  # a word in more stories than this is common (search_rank.RARE_DF)
# What reading one posting of the GIN index costs, in probes of search_terms' primary key: an
# AND of common words is walked (rarest word's rows, probing the others) when that costs less
# than gathering every posting of its words (docs/performance.md has the measurements).
POSTINGS_PER_PROBE = 25


def _matches(e: Expr, walk: list[str] | None = None) -> tuple[str, list[Any]]:
    """SQL of the ids of the stories matching ``e``, and its arguments. A word is its rows of
    ``search_terms`` (its primary key holds them in id order). Several words are answered by
    search_match's GIN index (newsbot_match), which intersects or unites their posting lists;
    ``walk`` instead gives an AND's words in the order to walk them: the first word's rows,
    each probed for the others, which stops at a count's limit when most stories match."""
    if isinstance(e, str):
        return "SELECT article_id FROM search_terms WHERE term = ?", [e.lower()]
    if len(e[1]) == 1:
        return _matches(e[1][0], walk)
    q = None if walk else _tsquery(e)
    if q is not None:
        return "SELECT article_id FROM newsbot_match(?::tsquery) AS m(article_id)", [q]
    parts = [_matches(c) for c in (walk or e[1])]
    args = [a for _, part_args in parts for a in part_args]
    if e[0] == "or":
        return " UNION ".join(f"({sql})" for sql, _ in parts), args
    first, rest = parts[0][0], [sql for sql, _ in parts[1:]]
    return (f"SELECT article_id FROM ({first}) m WHERE "
            + " AND ".join(f"article_id IN ({sql})" for sql in rest)), args


def count(db: Any, e: Expr, cap: int) -> int:
    """Matching stories, counting no further than ``cap``. The words' own counts (read once
    per search) settle most questions: an AND with an absent word, an OR or a word with at
    least ``cap`` stories."""
    dfs = counts(db, list(dict.fromkeys(_tokens(e))), COMMON + 1)
    low, high = match_bounds(e, dfs, COMMON)
    if high == 0 or low >= cap or low == high:
        return min(cap, low)
    walk = _walk_order(db, e, dfs, cap)
    q = None if walk or isinstance(unwrap(e), str) else _tsquery(e)
    if q is not None:
        return int(db.execute("SELECT newsbot_match_count(?::tsquery, ?)", [q, cap])
                   .fetchone()[0])
    sql, args = _matches(e, walk)
    row = db.execute(f"SELECT count(*) FROM ({sql} LIMIT ?) m", [*args, cap]).fetchone()
    return int(row[0])


def _walk_order(db: Any, e: Expr, dfs: dict[str, int], cap: int) -> list[str] | None:
    """The words of an AND of common words, rarest first, when walking them costs less than
    the GIN index's postings (see POSTINGS_PER_PROBE); ``None`` for the index."""
    top = unwrap(e)
    if isinstance(top, str) or top[0] != "and":
        return None
    kids = [unwrap(c) for c in top[1]]
    if not all(isinstance(k, str) and dfs[k] > COMMON for k in kids):
        return None
    from store import search_lists  # here: store.search_lists imports this module

    nrow = stats(db)[0] or 1
    kept = search_lists.hot_rows(db.store, kids)  # the counts kept with their top lists
    real = {k: int(kept[k][3]) if kept[k] else nrow for k in kids}
    kids.sort(key=lambda k: real[k])
    share = math.prod(min(1.0, real[k] / nrow) for k in kids[1:])  # a row's chance to match
    walked = min(real[kids[0]], cap / share if share else real[kids[0]])
    probes = walked * (len(kids) - 1)
    return kids if probes * POSTINGS_PER_PROBE < sum(real.values()) else None


def counts(db: Any, terms: list[str], cap: int) -> dict[str, int]:
    """Stories holding each of ``terms``, each counted no further than ``cap``: one statement
    for the lot (each word's count walks its index range only)."""
    if not terms:
        return {}
    known = kept(db, f"counts to {cap}")
    missing = [t for t in dict.fromkeys(t.lower() for t in terms) if t not in known]
    if missing:
        known.update(_count_each(db, missing, cap))
    return {t: known.get(t.lower(), 0) for t in terms}


def _count_each(db: Any, terms: list[str], cap: int) -> dict[str, int]:
    rows = db.execute(
        "SELECT w.term, (SELECT count(*) FROM (SELECT 1 FROM search_terms t"
        " WHERE t.term = w.term LIMIT ?) m) FROM unnest(?::text[]) AS w(term)",
        [cap, terms],
    ).fetchall()
    got = {str(t): int(n) for t, n in rows}
    return {t: got.get(t, 0) for t in terms}


def scored(db: Any, e: Expr, idfs: dict[str, float], limit: int | None = None,
           offset: int = 0) -> list[tuple[int, float]]:
    """(id, bm25) of the stories matching ``e``, best first (ties: newest id first), where a
    story scores ``idfs[t] * impact(f_t)`` for each place a word ``t`` holds in the query."""
    nrow, avgdl = stats(db)
    if not nrow:
        return []
    if grouped(e):
        page = sorted(_branch_scores(db, e, idfs, avgdl).items(), key=lambda x: (-x[1], -x[0]))
        return page[offset:offset + limit] if limit is not None else page[offset:]
    sql, args = _matches(e)
    coef: dict[str, float] = {}
    for t in _tokens(e):
        coef[t] = coef.get(t, 0.0) + idfs[t]
    terms = list(coef)
    page = " LIMIT ? OFFSET ?" if limit is not None else ""
    # each word's weight picked from an array: a join on the words (in a function scan) hides
    # their row counts from the planner, which then scans the matches once per word's row
    q = ("WITH m AS MATERIALIZED (" + sql + ")"
         " SELECT m.article_id, sum((?::float8[])[array_position(?::text[], t.term)]"
         f" * {_IMPACT}) AS s FROM m JOIN search_terms t ON t.article_id = m.article_id"
         " AND t.term = ANY(?) JOIN search_docs d ON d.article_id = m.article_id"
         " GROUP BY m.article_id ORDER BY s DESC, m.article_id DESC" + page)
    lowered = [t.lower() for t in terms]
    params = [*args, [coef[t] for t in terms], lowered, K1 + 1, K1, B, B, avgdl, lowered]
    if limit is not None:
        params += [limit, offset]
    return [(int(a), float(s)) for a, s in db.execute(q, params).fetchall()]


# bm25's impact of a word's row ``t`` in story ``d``: its parameters k1 + 1, k1, b, b, avgdl
_IMPACT = "(t.f * ?) / (t.f + ? * (1 - ? + ? * d.length / ?))"


def _branch_scores(db: Any, e: Expr, idfs: dict[str, float], avgdl: float) -> dict[int, float]:
    """bm25 of every match of ``e`` as FTS5 sums it: a word's part counts where every group
    it belongs to matched (the matches' word rows are read, and the tree is walked here)."""
    sql, args = _matches(e)
    terms = [t.lower() for t in dict.fromkeys(_tokens(e))]
    q = ("WITH m AS MATERIALIZED (" + sql + ")"
         f" SELECT m.article_id, t.term, {_IMPACT} FROM m JOIN search_terms t"
         " ON t.article_id = m.article_id AND t.term = ANY(?)"
         " JOIN search_docs d ON d.article_id = m.article_id")
    held: dict[int, dict[str, float]] = {}
    for a, term, v in db.execute(q, [*args, K1 + 1, K1, B, B, avgdl, terms]).fetchall():
        held.setdefault(int(a), {})[str(term)] = float(v)
    tokens = list(dict.fromkeys(_tokens(e)))
    out = {}
    for a, got in held.items():
        ok, s = group_score(e, {t: got.get(t.lower(), 0.0) for t in tokens}, idfs)
        if ok:
            out[a] = s
    return out


def term_bm25(db: Any, term: str, n: int | None = None) -> list[tuple[int, float]]:
    """(id, bm25 as FTS5 returns it: negated) of every story holding ``term`` (``n``: how
    many do, when the caller has counted them already)."""
    nrow, _ = stats(db)
    if n is None:
        n = count(db, term, nrow + 1)
    return [(a, -s) for a, s in scored(db, term, {term: idf(nrow, n)})]


def token_idfs(e: Expr, nrow: int, dfs: dict[str, int]) -> dict[str, float]:
    """Each token's idf (its weight each time it appears in the query)."""
    return {t: idf(nrow, dfs[t]) for t in _tokens(e)}


def word_counts(db: Any, ids: list[int], toks: list[str]) -> dict[int, tuple[int, dict[str, float]]]:
    """Each story's length and weighted count of each of ``toks`` it holds, looked up by the
    primary key of search_terms (the stories' texts need not be read)."""
    lowered = {t.lower(): t for t in toks}
    rows = db.execute(
        "SELECT d.article_id, d.length, t.term, t.f FROM search_docs d LEFT JOIN search_terms t"
        " ON t.article_id = d.article_id AND t.term = ANY(?) WHERE d.article_id = ANY(?)",
        [list(lowered), list(ids)],
    ).fetchall()
    out: dict[int, tuple[int, dict[str, float]]] = {}
    for a, dl, term, f in rows:
        got = out.setdefault(int(a), (int(dl or 0), {}))[1]
        if term is not None:
            got[lowered.get(str(term), str(term))] = float(f)
    return out


def name_rows(db: Any, key: str) -> list[tuple[Any, ...]]:
    """``name_words`` of up to 50 stories whose ``names`` column holds the token ``key`` (FTS5's
    ``names : "key"``), from the search's prefetched rows when there are some."""
    return _names(db, [key])[key.lower()]  # type: ignore[no-any-return]


def prefetch_names(db: Any, keys: list[str]) -> None:
    """name_rows of several keys in one statement, kept for the rest of the search."""
    _names(db, keys)


def _names(db: Any, keys: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    known = kept(db, "names")
    missing = [k for k in dict.fromkeys(k.lower() for k in keys) if k not in known]
    if missing:
        got = _name_rows(db, missing)
        known.update({k: got.get(k, []) for k in missing})
    return known


def _name_rows(db: Any, keys: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Each key's rows narrow the stories, the names column confirms the place (in that
    order, held by the lateral lookups: the planner cannot tell how rare the word is, and
    would rather test every story's names)."""
    rows = db.execute(
        "SELECT k.key, d.name_words FROM unnest(?::text[]) AS k(key) CROSS JOIN LATERAL ("
        " SELECT s.name_words FROM search_terms t CROSS JOIN LATERAL (SELECT name_words, names"
        " FROM search_docs WHERE article_id = t.article_id OFFSET 0) s"
        " WHERE t.term = k.key AND ' ' || lower(s.names) || ' ' LIKE '% ' || k.key || ' %'"
        " LIMIT 50) d",
        [keys],
    ).fetchall()
    out: dict[str, list[tuple[Any, ...]]] = {}
    for key, name_words in rows:
        out.setdefault(str(key), []).append((name_words,))
    return out
