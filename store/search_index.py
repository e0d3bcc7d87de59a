"""The search index's rows: an article's text cut by jieba, ready for FTS5.

``search_docs`` holds, per article, its title and body as space-separated search-mode tokens
(so FTS5's unicode61 tokenizer only has to split on spaces) and a ``names`` column with the
people and places of the story and the pinyin keys of those and of the title's words. The FTS5
table ``search_docs_fts`` indexes these columns (external content, kept in step by sqlite-utils'
triggers), with the article id as rowid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

import sqlite_utils

from store import pinyin
from store.query import normalise, words
from store.segment import tokenizer

FTS_COLUMNS = ("title", "body", "names")


def create_tables(db: sqlite_utils.Database) -> None:
    """The index tables (used by the store's migration)."""
    db["search_docs"].create(
        {
            "article_id": int,
            "title": str,  # search-mode tokens of title, subtitle, kicker
            "body": str,  # search-mode tokens of paragraphs and captions
            "names": str,  # people, places, pinyin keys
            "name_words": str,  # the Chinese words behind the pinyin keys (for highlighting)
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
    precise = [w for w in tk.cut(normalise(text), HMM=True) if w.strip()]
    out: list[str] = []
    for w in precise:
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
    return words(out), precise


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
    for w in body_words:
        if pinyin.is_name(w, known):
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
        name_words=" ".join(w for w in chosen if pinyin.keys(w)),
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
