"""Sample stories shipped with the project, for ``newsbot serve --demo`` on an empty store."""

from __future__ import annotations

from store.db import Store


def import_samples_if_empty(store: Store) -> int:
    """Import the shipped sample pages when the store has no stories; returns stories added."""
    from store import articles

    if articles.count(store):
        return 0
    return 0
