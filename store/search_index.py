"""The search index's rows: an article's text cut by jieba, ready for FTS5.

``search_docs`` holds, per article, its title and body as space-separated search-mode tokens
(so FTS5's unicode61 tokenizer only has to split on spaces) and a ``names`` column with the
people and places of the story and the pinyin keys of those and of the title's words. The FTS5
table ``search_docs_fts`` indexes these columns (external content, kept in step by sqlite-utils'
triggers), with the article id as rowid.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import jieba
import sqlite_utils

from store import articles, pinyin, search_lists
from store.db import connect
from store.query import WORD, normalise, words
from store.search_cut import precise
from store.segment import USER_DICT, tokenizer

if TYPE_CHECKING:
    from store.db import Store

BATCH = 500
POOL_FROM = 2000  # fewer stories than this are cut in-process: a pool costs more than it saves

FTS_COLUMNS = ("title", "body", "names")


def create_tables(db: sqlite_utils.Database) -> None:
    """The index tables (used by the store's migration)."""
    db["search_docs"].create(
        {
            "article_id": int,
            "title": str,  # search-mode tokens of title, subtitle, kicker
            "body": str,  # search-mode tokens of paragraphs and captions
            "names": str,  # people, places, pinyin keys
            "name_words": str,  # "郭龙生|guolongsheng,glsh,gls …": names and their pinyin keys
            "length": int,  # tokens in all indexed columns
        },
        pk="article_id",
    )
    db["search_docs"].enable_fts(list(FTS_COLUMNS), fts_version="FTS5", create_triggers=True)


@dataclass
class Doc:
    article_id: int
    title: str
    body: str
    names: str
    name_words: str
    length: int

    def row(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "title": self.title,
            "body": self.body,
            "names": self.names,
            "name_words": self.name_words,
            "length": self.length,
        }


def cut(text: str) -> tuple[list[str], list[str]]:
    """(search-mode tokens, precise words) of ``text`` from ONE precise cut.

    jieba's search mode is its precise cut plus, for each long word, the 2- and 3-character
    parts its dictionary knows; deriving those here gives the same tokens as ``cut_for_search``
    while cutting once, and keeps the precise words for the name and pinyin keys."""
    tk = tokenizer()
    freq = tk.FREQ
    words_ = [w for w in precise(normalise(text)) if w.strip()]
    out: list[str] = []
    for w in words_:
        n = len(w)
        if n > 2:
            # a word the dictionary does not know came from the HMM, which glues neighbours
            # onto new words (康养步道 -> 康养步|道): all its 2-character parts are indexed
            unknown = not freq.get(w)
            for i in range(n - 1):
                if unknown or freq.get(w[i:i + 2]):
                    out.append(w[i:i + 2])
        if n > 3:
            for i in range(n - 2):
                if freq.get(w[i:i + 3]):
                    out.append(w[i:i + 3])
        out.append(w)
    # one pass of the letter-and-digit pattern over all tokens (spaces separate them)
    return WORD.findall(" ".join(out)), words_


def build(article_id: int, title_parts: Iterable[str], body_parts: Iterable[str],
          authors: Iterable[str]) -> Doc:
    """The index row of one story."""
    title_text = "\n".join(p for p in title_parts if p)
    body_text = "\n".join(p for p in body_parts if p)
    title_toks, title_words = cut(title_text)
    body_toks, body_words = cut(body_text)

    known = tokenizer().FREQ
    chosen: dict[str, None] = {}
    for a in authors:
        a = a.strip()
        if a:
            chosen[a] = None
    for w in title_words:
        if pinyin.keys(w):
            chosen[w] = None
    # places and names the title splits (汝河|新村): adjacent Chinese words joined, too
    for i in range(len(title_words) - 1):
        for j in (i + 2, i + 3):
            w = "".join(title_words[i:j])
            if j <= len(title_words) and len(w) <= 5 and pinyin.keys(w):
                chosen[w] = None
    for w in dict.fromkeys(body_words):
        if 1 < len(w) < 5 and pinyin.is_name(w, known):
            chosen[w] = None
    for w in pinyin.places(body_words, known):
        chosen[w] = None
    name_toks: list[str] = []
    for w in chosen:
        name_toks.extend(words([normalise(w)]))
        name_toks.extend(pinyin.keys(w))
    return Doc(
        article_id=article_id,
        title=" ".join(title_toks),
        body=" ".join(body_toks),
        names=" ".join(name_toks),
        # each name with its keys, so highlighting a pinyin query needs no pypinyin at query time
        name_words=" ".join(f"{w}|{','.join(k)}" for w in chosen if (k := pinyin.keys(w))),
        length=len(title_toks) + len(body_toks) + len(name_toks),
    )


def build_from_row(row: dict[str, Any]) -> Doc:
    """The index row of an ``articles`` row (JSON list columns as stored)."""

    def lst(v: Any) -> list[str]:
        return [str(x) for x in json.loads(v)] if v else []

    return build(
        int(row["id"]),
        [row.get("title") or "", row.get("subtitle") or "", row.get("kicker") or ""],
        lst(row.get("body")) + lst(row.get("captions")),
        lst(row.get("authors")),
    )


def dictionary_fingerprint() -> str:
    """Identity of the dictionary the text is cut with (jieba's and the project's)."""
    h = hashlib.sha256(jieba.__version__.encode())
    user = resources.files("store") / "data" / USER_DICT
    if user.is_file():
        h.update(user.read_bytes())
    return h.hexdigest()[:16]


_META_KEY = "search.dictionary"


def note_dictionary(db: sqlite_utils.Database, rebuilt: bool = False) -> None:
    """Record the dictionary the index is cut with (on a rebuild, or with the first story)."""
    if rebuilt or not db.execute("SELECT 1 FROM meta WHERE key = ?", (_META_KEY,)).fetchone():
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                   (_META_KEY, dictionary_fingerprint()))


def stale(db: sqlite_utils.Database) -> bool:
    """The index was cut with another dictionary than the one loaded now: words the
    dictionary changed may not be found until ``newsbot reindex``."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (_META_KEY,)).fetchone()
    return bool(row) and row[0] != dictionary_fingerprint()


def _rows(store: Store) -> Iterator[list[dict[str, Any]]]:
    """The articles in batches, read on a connection of their own (a pool reads from its
    feeder thread while the caller's connection writes)."""
    db = connect(store.path)
    try:
        cur = db.execute("SELECT * FROM articles ORDER BY id")
        cols = [d[0] for d in cur.description]
        while True:
            batch = cur.fetchmany(BATCH)
            if not batch:
                return
            yield [dict(zip(cols, r)) for r in batch]
    finally:
        db.conn.close()


def _build_batch(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [build_from_row(r).row() for r in rows]


def rebuild(store: Store, progress: Callable[[int, int], None] | None = None,
            workers: int | None = None) -> int:
    """Reindex every article in one transaction (see ``store.search.rebuild``).

    Cutting is the cost, so big stores are cut by a pool of processes while this one writes.
    The FTS triggers are set aside and the FTS index is built in one pass at the end, which is
    cheaper than updating it row by row."""
    db = store.db
    if getattr(db, "engine", "") == "postgres":
        return _rebuild_in_place(store, progress)
    total = int(db.execute("SELECT count(*) FROM articles").fetchone()[0])
    if workers is None:
        workers = os.cpu_count() or 1
    tokenizer()  # load the dictionary before forking, so the workers share it
    precise("预热")
    pool = None
    if workers > 1 and total >= POOL_FROM and "fork" in multiprocessing.get_all_start_methods():
        pool = multiprocessing.get_context("fork").Pool(workers)
    done = 0
    try:
        with store.transaction(), _triggers_off(db):
            db.execute("DELETE FROM search_docs")
            search_lists.clear(db)
            batches: Iterable[list[dict[str, Any]]]
            if pool is not None:
                batches = pool.imap(_build_batch, _rows(store))
            else:
                batches = (_build_batch(rows) for rows in _rows(store))
            for docs in batches:
                db["search_docs"].insert_all(docs, pk="article_id", batch_size=BATCH)
                done += len(docs)
                if progress:
                    progress(done, total)
            db.execute("INSERT INTO search_docs_fts(search_docs_fts) VALUES('rebuild')")
            note_dictionary(db, rebuilt=True)
    finally:
        if pool is not None:
            pool.terminate()  # the work is done (or failed): nothing to wait for
            pool.join()
    return done


def _rebuild_in_place(store: Store, progress: Callable[[int, int], None] | None) -> int:
    """Reindex every article in one transaction, row by row (the PostgreSQL store, whose
    index triggers keep the word counts)."""
    db = store.db
    total = articles.count(store)
    done = 0
    with store.transaction():
        db.execute("DELETE FROM search_docs")
        search_lists.clear(db)
        batch: list[dict[str, Any]] = []
        for a in articles.every(store):
            batch.append(build_from_row(a.to_row()).row())
            if len(batch) >= BATCH:
                db["search_docs"].insert_all(batch)
                done += len(batch)
                batch = []
                if progress:
                    progress(done, total)
        if batch:
            db["search_docs"].insert_all(batch)
            done += len(batch)
            if progress:
                progress(done, total)
        note_dictionary(db, rebuilt=True)
    return done


class _triggers_off:  # noqa: N801 - used like a function, as contextlib's managers are
    """Drop the sync triggers inside the caller's transaction and put them back after."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.saved: list[str] = []

    def __enter__(self) -> None:
        self.saved = [
            r[0] for r in self.db.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'search_docs'"
            )
        ]
        for name in [r[0] for r in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'search_docs'")]:
            self.db.execute(f"DROP TRIGGER [{name}]")

    def __exit__(self, *exc: object) -> None:
        for sql in self.saved:
            self.db.execute(sql)
