"""Recent search pages, so a burst of the same keyword (a push morning, a popular story) runs
the engine once.

One bounded LRU per process, kept in ``Context.shared`` (made by ``handlers.shared``).
Pages are keyed on (normalised query, offset, limit) and are valid for one articles
*generation*: a counter in the store's ``meta`` table that triggers bump on every insert, edit
or delete of a story (and on an index rebuild), whichever process made it. Lookups read the
counter; when it moved, the whole cache is dropped. On the event loop the counter is read once
per turn of the loop, with the rules' (handlers.generations).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from handlers.generations import Counters
from store import search as engine
from store.query import MAX_QUERY_CHARS, normalise
from store.search import SearchResults

DEFAULT_SIZE = 512

Key = tuple[str, int, int]


class SearchCache:
    """An LRU of search pages of one articles generation; safe to share between threads."""

    def __init__(self, size: int = DEFAULT_SIZE, counters: Counters | None = None) -> None:
        self.size = max(1, size)
        self.counters = counters or Counters()
        self._pages: OrderedDict[Key, SearchResults] = OrderedDict()
        self._generation: int | None = None
        self._derived: dict[str, Any] = {}  # other values of this generation (by name)
        self._answers: OrderedDict[Any, Any] = OrderedDict()  # see answer()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _current(self, store: Any) -> int:
        """The stories' generation; on the event loop, read once per turn of the loop."""
        return self.counters.current(store).articles

    def search(self, store: Any, query: str, limit: int, offset: int) -> SearchResults:
        # the engine reads only the stripped, cut, normalised text: equal keys, equal pages
        text = query.strip()[:MAX_QUERY_CHARS]
        key = _key(text, limit, offset)
        generation = self._current(store)
        with self._lock:
            self._follow(generation)
            res = self._pages.get(key)
            if res is not None:
                self._pages.move_to_end(key)
                self.hits += 1
                # the same page; only the user's own spelling of the query differs
                return res if res.query == text else replace(res, query=text)
            self.misses += 1
        # outside the lock: other threads' lookups do not wait on this search
        res = engine.search(store, query, limit=limit, offset=offset)
        with self._lock:
            # stored under the generation read before the search: a write landing meanwhile
            # moves the counter, so the next lookup drops it. Another thread may already have
            # moved the cache to a newer generation; then this page is not stored.
            if generation == self._generation:
                self._pages[key] = res
                if len(self._pages) > self.size:
                    self._pages.popitem(last=False)
        return res

    def _follow(self, generation: int) -> None:
        """Under the lock: forget what was kept for another generation of the stories."""
        if generation != self._generation:
            self._pages.clear()
            self._derived.clear()
            self._answers.clear()
            self._generation = generation

    def derived(self, store: Any, name: str, make: Callable[[], Any]) -> Any:
        """A value computed from the stories (``make()``), kept until they change."""
        return self._kept(store, self._derived, name, make, bounded=False)

    def answer(self, store: Any, key: Any, make: Callable[[], Any]) -> Any:
        """What a handler made of one query's results (``make()``), kept under ``key`` in an
        LRU as large as the pages' until the stories change. ``make`` runs outside the lock
        (and may search through this cache)."""
        return self._kept(store, self._answers, key, make, bounded=True)

    def _kept(self, store: Any, table: Any, key: Any, make: Callable[[], Any],
              bounded: bool) -> Any:
        """``table[key]`` for this generation of the stories, made (outside the lock) when
        missing; ``bounded``: ``table`` is an LRU of ``size`` entries."""
        generation = self._current(store)
        with self._lock:
            self._follow(generation)
            if key in table:
                if bounded:
                    table.move_to_end(key)
                return table[key]
        value = make()
        with self._lock:
            if generation == self._generation:
                table[key] = value
                if bounded and len(table) > self.size:
                    table.popitem(last=False)
        return value

    def has(self, query: str, limit: int, offset: int) -> bool:
        """Whether that page is cached (as of the last lookup's generation): a peek that
        neither reads the store nor counts as a hit."""
        key = _key(query.strip()[:MAX_QUERY_CHARS], limit, offset)
        return key in self._pages

    def __len__(self) -> int:
        return len(self._pages)


def _key(text: str, limit: int, offset: int) -> Key:
    """A page's key: the engine reads only the normalised words, so equal keys, equal pages
    (the webhook's quick test asks with the text as typed, the search with it tidied)."""
    return (normalise(" ".join(text.split())), int(offset), int(limit))


def search(cache: SearchCache | None, store: Any, query: str, limit: int, offset: int
           ) -> SearchResults:
    """A page of ``query``'s results: from the process's cache when one is set up, else the
    engine directly."""
    if cache is None:
        return engine.search(store, query, limit=limit, offset=offset)
    return cache.search(store, query, limit, offset)
