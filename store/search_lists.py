"""Top lists: for each common word, the stories where it weighs most.

A list holds a word's ``LIST_SIZE`` stories of highest bm25 impact (its weighted count ``f``
and the story's length are kept, so impacts follow the average length exactly) and a *floor*:
no story outside the list has a higher impact. Lists are built from FTS5 the first time a query
needs them and kept true on every change: a new or edited story joins the lists of the common
words it contains when it beats the floor (a full list then drops its weakest and raises the
floor); a deleted story just leaves (what remains is still the best of the rest). A list that
shrank to half, or whose average length drifted, is built again.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from store import search_pg
from store.search_bm25 import FTS, K1, WEIGHTS, B, fts_string, idf, impact, weights_sql

log = logging.getLogger(__name__)

LIST_SIZE = 3000  # stories kept per common word
STORE_WAIT_MS = 200  # how long a search waits to store a list it built
DRIFT = 0.02  # a list is rebuilt when the average story length moved more than this


def create_tables(db: sqlite_utils.Database) -> None:
    db["search_top"].create(
        {"term": str, "article_id": int, "f": float, "dl": int, "impact": float},
        pk=("term", "article_id"),
    )
    db["search_top"].create_index(["term", "impact"])
    db["search_top"].create_index(["article_id"])
    db["search_hot"].create(
        {"term": str, "gen": int, "avgdl": float, "floor": float, "size": int}, pk="term"
    )


def clear(db: sqlite_utils.Database) -> None:
    db.execute("DELETE FROM search_top")
    db.execute("DELETE FROM search_hot")


@dataclass
class TopList:
    entries: dict[int, float]  # article id -> impact at the current average length
    bound: float  # no story outside the list has a higher impact
    complete: bool  # every story with the word is in the list
    order: list[tuple[float, int]] = field(default_factory=list)  # (impact, id), best first

    def __post_init__(self) -> None:
        if not self.order:
            self.order = sorted(((v, a) for a, v in self.entries.items()), reverse=True)


# (store file, word) -> (generation, average length, list): lists change only when stories do
_CACHE: dict[tuple[str, str], tuple[int, float, TopList]] = {}


def doc_freq(store: Any, term: str, nrow: int, avgdl: float) -> int:
    """Stories holding ``term``, kept with its list (a list is built for it when missing)."""
    row = hot_rows(store, [term])[term]
    if row is None:
        return _build(store, term, nrow, avgdl)[1]
    return int(row[3])


def hot_rows(store: Any, terms: list[str]) -> dict[str, tuple[Any, ...] | None]:
    """Each word's (gen, avgdl, floor, df) from search_hot, ``None`` when it has no list: on
    PostgreSQL read for all the words in one statement and kept for the rest of the search
    (a round trip each would cost more than the lookups)."""
    known: dict[str, tuple[Any, ...] | None] = search_pg.kept(store.db, "hot_rows")
    missing = [t for t in dict.fromkeys(terms) if t not in known]
    if len(missing) == 1:
        row = store.db.execute("SELECT gen, avgdl, floor, df FROM search_hot WHERE term = ?",
                               (missing[0],)).fetchone()
        known[missing[0]] = tuple(row) if row else None
    elif missing:
        known.update(dict.fromkeys(missing))
        marks = ",".join("?" * len(missing))
        for term, *rest in store.db.execute(
                "SELECT term, gen, avgdl, floor, df FROM search_hot"
                f" WHERE term IN ({marks})", missing).fetchall():
            known[str(term)] = tuple(rest)
    return {t: known[t] for t in terms}


def top_list(store: Any, term: str, nrow: int, avgdl: float) -> TopList:
    """The word's top list, built (and stored) from FTS5 when missing or stale."""
    db = store.db
    row = hot_rows(store, [term])[term]
    if row is None or abs(row[1] / avgdl - 1) > DRIFT:
        return _build(store, term, nrow, avgdl)[0]
    gen, list_avgdl, floor, _ = row
    key = (str(store.path), term)
    hit = _CACHE.get(key)
    if hit and hit[0] == gen and hit[1] == avgdl:
        return hit[2]
    rows = db.execute("SELECT article_id, f, dl FROM search_top WHERE term = ?", (term,))
    entries = {int(a): impact(f, dl, avgdl) for a, f, dl in rows}
    # impacts grow at most in proportion to the average length: the floor is scaled alike
    tl = TopList(entries, floor * max(1.0, avgdl / list_avgdl), floor == 0)
    if len(_CACHE) > 2048:
        _CACHE.clear()
    _CACHE[key] = (gen, avgdl, tl)
    return tl


def _build(store: Any, term: str, nrow: int, avgdl: float) -> tuple[TopList, int]:
    """The word's list from FTS5 (one pass over its matches), and its story count. Stored if
    the store can be written within a moment: a search never waits on a long import."""
    db = store.db
    if getattr(db, "engine", "") == "postgres":
        rows = search_pg.term_bm25(db, term)
    else:
        rows = db.execute(
            f"SELECT rowid, bm25({FTS}, {weights_sql()}) FROM {FTS} WHERE {FTS} MATCH ?",
            (fts_string(term),),
        ).fetchall()
    i = idf(nrow, len(rows))  # every story with the word is here: its document count
    ranked = sorted(((-r[1] / i, int(r[0])) for r in rows), reverse=True)
    top = ranked[:LIST_SIZE]
    floor = ranked[LIST_SIZE][0] if len(ranked) > LIST_SIZE else 0.0
    lengths: dict[int, int] = {}
    ids = [a for _, a in top]
    for k in range(0, len(ids), 500):
        chunk = ids[k:k + 500]
        q = ("SELECT article_id, length FROM search_docs"
             f" WHERE article_id IN ({','.join('?' * len(chunk))})")
        lengths.update({int(a): int(n) for a, n in db.execute(q, chunk)})
    out = []
    for imp, a in top:
        dl = lengths.get(a, 0)
        c = K1 * (1 - B + B * dl / avgdl)
        f = imp * c / ((K1 + 1) - imp)  # bm25's impact solved for the weighted count
        out.append({"term": term, "article_id": a, "f": f, "dl": dl, "impact": imp})
    wait = db.execute("PRAGMA busy_timeout").fetchone()[0]
    try:
        db.execute(f"PRAGMA busy_timeout={STORE_WAIT_MS}")
        with store.transaction():
            db.execute("DELETE FROM search_top WHERE term = ?", (term,))
            db["search_top"].insert_all(out)
            db.execute(
                "INSERT OR REPLACE INTO search_hot (term, gen, avgdl, floor, size, df)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (term, time.time_ns() & 0x3FFFFFFFFFFFFFFF, avgdl, floor, len(out), len(rows)),
            )
    except sqlite3.OperationalError as e:  # busy or read-only: use it unstored this time
        log.info("top list of %r not stored: %s", term, e)
    finally:
        db.execute(f"PRAGMA busy_timeout={int(wait)}")
    search_pg.kept(db, "hot_rows").pop(term, None)  # read again: stored now, or still missing
    return TopList({a: imp for imp, a in top}, floor, floor == 0), len(rows)


def _counts(cols: tuple[str, str, str]) -> dict[str, float]:
    """Column-weighted counts of every token of a story's index row."""
    counts: dict[str, float] = {}
    for w, text in zip(WEIGHTS, cols):
        for t in (text or "").split():
            counts[t] = counts.get(t, 0.0) + w
    return counts


def _hot_rows(db: sqlite_utils.Database, terms: list[str]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for k in range(0, len(terms), 500):
        chunk = terms[k:k + 500]
        out += db.execute(
            "SELECT term, avgdl, floor, size FROM search_hot"
            f" WHERE term IN ({','.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
    return out


def forget(db: sqlite_utils.Database, article_id: int) -> None:
    """A story leaves the lists (it was deleted, or is about to be re-added) and the counts of
    the common words it held. The rest of each list is still its word's best stories; a list
    that shrank to half is dropped and built again when next needed."""
    row = db.execute(
        "SELECT title, body, names FROM search_docs WHERE article_id = ?", (article_id,)
    ).fetchone()
    if row is None:
        return
    hot = [r[0] for r in _hot_rows(db, list(_counts(tuple(row))))]  # type: ignore[arg-type]
    in_list = {r[0] for r in db.execute(
        "SELECT term FROM search_top WHERE article_id = ?", (article_id,))}
    for term in hot:
        db.execute(
            "UPDATE search_hot SET df = df - 1, size = size - ?, gen = gen + 1 WHERE term = ?",
            (1 if term in in_list else 0, term),
        )
    db.execute("DELETE FROM search_top WHERE article_id = ?", (article_id,))
    for (term,) in db.execute(
        "SELECT term FROM search_hot WHERE floor > 0 AND size < ?", (LIST_SIZE // 2,)
    ).fetchall():
        db.execute("DELETE FROM search_top WHERE term = ?", (term,))
        db.execute("DELETE FROM search_hot WHERE term = ?", (term,))


def admit(db: sqlite_utils.Database, article_id: int, cols: tuple[str, str, str], dl: int) -> None:
    """A story (just indexed) counts for the common words it contains and joins their lists
    where its impact beats the floor; a full list drops its weakest and raises its floor."""
    counts = _counts(cols)
    for term, avgdl, floor, size in _hot_rows(db, list(counts)):
        imp = impact(counts[term], dl, avgdl)
        if imp > floor:
            db.execute(
                "INSERT OR REPLACE INTO search_top (term, article_id, f, dl, impact)"
                " VALUES (?, ?, ?, ?, ?)",
                (term, article_id, counts[term], dl, imp),
            )
            size += 1
            if size > LIST_SIZE:
                weakest = db.execute(
                    "SELECT article_id, impact FROM search_top WHERE term = ?"
                    " ORDER BY impact LIMIT 1",
                    (term,),
                ).fetchone()
                db.execute(
                    "DELETE FROM search_top WHERE term = ? AND article_id = ?", (term, weakest[0])
                )
                floor = max(floor, weakest[1])
                size -= 1
        db.execute(
            "UPDATE search_hot SET df = df + 1, size = ?, floor = ?, gen = gen + 1"
            " WHERE term = ?",
            (size, floor, term),
        )
