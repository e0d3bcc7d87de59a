"""Search index over the articles (FTS5 over jieba-segmented text)."""

from __future__ import annotations

from store.db import Store


def index_article(store: Store, article_id: int) -> None:
    """(Re)index one article. The FTS5 index arrives with the search module proper."""


def remove_article(store: Store, article_id: int) -> None:
    """Drop one article from the index."""
