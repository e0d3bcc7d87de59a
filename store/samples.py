"""Sample pages shipped with the project, for ``newsbot serve --demo`` on an empty store.

The pages in ``store/data/samples/`` are written for the project in the style of the printed
pages it imports (an imaginary 柳湾区 of an imaginary 青河市), with the same layout damage:
banners, split headlines, bylines in every form, captions, cut paragraphs, repeated blocks.
They go through the same import as real pages.
"""

from __future__ import annotations

from importlib import resources

from store import articles
from store.db import Store
from store.ingest import parse_page, save_all


def sample_pages() -> list[tuple[str, str]]:
    """(file name, text) of every shipped sample page, in name order."""
    folder = resources.files("store") / "data" / "samples"
    pages = [(p.name, p.read_text(encoding="utf-8")) for p in folder.iterdir()
             if p.name.endswith(".txt")]
    return sorted(pages)


def import_samples_if_empty(store: Store) -> int:
    """Import the shipped sample pages when the store has no stories; returns stories added."""
    if articles.count(store):
        return 0
    stories = [a for name, text in sample_pages() for a in parse_page(text, f"samples/{name}")]
    return len(save_all(store, stories).added)
