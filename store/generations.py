"""The counters that say the stories or the keyword rules changed, read together.

``articles.generation`` moves on every story write and index rebuild (triggers of the schema)
and ``rules.generation`` on every rule write (store.rules), whichever process or host made
the change. A process's caches compare them with the values they were built for: one
statement reads both, so however many caches look, a look costs one read of the store (on
PostgreSQL, one round trip).
"""

from __future__ import annotations

from typing import NamedTuple

from store.articles import GENERATION_KEY as ARTICLES_KEY
from store.db import Store
from store.rules import GENERATION_KEY as RULES_KEY


class Generations(NamedTuple):
    articles: int
    rules: int


def read(store: Store) -> Generations:
    """Both counters now (0 for one a store has never moved)."""
    rows = dict(store.db.execute("SELECT key, value FROM meta WHERE key IN (?, ?)",
                                 [ARTICLES_KEY, RULES_KEY]).fetchall())
    return Generations(int(rows.get(ARTICLES_KEY, 0)), int(rows.get(RULES_KEY, 0)))
