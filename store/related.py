"""Related stories: two or three to offer a reader after one story, so they keep reading
without typing.

The story's own key words (TF-IDF over its title and opening, with the project's dictionary)
are each searched with the same engine readers use; a story found by several key words, high
up and by words few stories share, ranks first. The story itself and stories under the same title (a copy) are left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from store import articles, segment
from store.articles import Article
from store.search import SearchResults
from store.search import search as engine_search

RELATED = 3  # offered at most
KEY_WORDS = 4  # of the story, each searched
OPENING_CHARS = 400  # of the text read for key words, after the title
PER_WORD = RELATED + 3  # hits read per key word (the story itself among them)
WEAKEST = 0.4  # of the best one's score: a story less related than that is not offered

Search = Callable[[Any, str, int, int], SearchResults]


class Related(NamedTuple):
    article_id: int
    title: str


def key_words(a: Article, n: int = KEY_WORDS) -> list[str]:
    """The ``n`` words that most set the story apart; its title counts twice."""
    tfidf = segment.tfidf()  # the project's words (网格员, 党群服务中心) whole
    text = f"{a.title}。{a.title}。{a.subtitle}。" + "".join(a.body)[:OPENING_CHARS]
    return [w for w in tfidf.extract_tags(text, topK=n * 2) if not w.isdigit()][:n]


def related(store: Any, a: Article, limit: int = RELATED, search: Search | None = None,
            stories: int | None = None) -> list[Related]:
    """Up to ``limit`` stories related to ``a``, best first (none when nothing else matches).
    ``search(store, query, limit, offset)`` is the engine, or a cache in front of it;
    ``stories``: how many the store holds, when the caller keeps that count."""
    run = search or (lambda st, q, n, off: engine_search(st, q, limit=n, offset=off))
    if stories is None:
        stories = articles.count(store)
    words = key_words(a, KEY_WORDS * 2)  # the later ones only while too little is found
    score: dict[int, float] = {}
    titles: dict[int, str] = {}
    for weight, word in zip(range(len(words), 0, -1), words, strict=False):
        if weight <= len(words) - KEY_WORDS and len(score) >= limit:
            break
        res = run(store, word, PER_WORD, 0)
        if res.mode != "all" or res.corrected or res.total > max(RELATED + 1, stories // 2):
            continue  # a word the engine stretched for, or most stories share, tells nothing
        telling = weight * math.log(stories / res.total)
        for rank, h in enumerate(res.hits):
            if h.article_id == a.id or h.title.strip() == a.title.strip():
                continue
            score[h.article_id] = score.get(h.article_id, 0.0) + telling / (1 + rank / PER_WORD)
            titles[h.article_id] = h.title
    if not score:
        return []
    floor = max(score.values()) * WEAKEST
    best = sorted((i for i in score if score[i] >= floor), key=lambda i: (-score[i], i))[:limit]
    return [Related(i, titles[i]) for i in best]
