"""Articles: the one way stories are added, read, changed and removed.

Every write goes through here so that derived fields (summary, categories, content hash) and
the search index stay consistent with the story. Lists are stored as JSON text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from store.categories import classify
from store.db import Store, StoreError, now_iso
from store.summary import summarise

JSON_FIELDS = ("authors", "body", "captions", "categories", "category_override")


@dataclass
class Article:
    title: str
    body: list[str] = field(default_factory=list)
    subtitle: str = ""
    kicker: str = ""
    authors: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    category_override: list[str] | None = None
    source: str = ""
    url: str | None = None
    picurl: str = ""
    published: str | None = None
    summary: str = ""
    summary_long: str = ""
    id: int | None = None
    added_at: str = ""
    updated_at: str = ""
    content_hash: str = ""
    story_key: str = ""

    @property
    def effective_categories(self) -> list[str]:
        """An admin's override wins over the model's categories."""
        return list(self.category_override if self.category_override is not None else self.categories)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        for k in JSON_FIELDS:
            row[k] = None if row[k] is None else json.dumps(row[k], ensure_ascii=False)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Article:
        data = dict(row)
        for k in JSON_FIELDS:
            v = data.get(k)
            data[k] = json.loads(v) if v else ([] if k != "category_override" else None)
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**data)


def content_hash(a: Article) -> str:
    """Identity of a story's text: same title, subtitle and paragraphs -> same hash."""
    h = hashlib.sha256()
    for part in (a.title, a.subtitle, *a.body):
        h.update(part.strip().encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


def story_key(a: Article) -> str:
    """Where a story came from and what it is called: a re-import of an edited story matches."""
    return f"{a.url or a.source}\x1f{a.title.strip()}"


def enrich(a: Article) -> Article:
    """Fill the derived fields the caller left empty: summaries and categories."""
    if not a.summary or not a.summary_long:
        short, long_ = summarise(a.title, a.body)
        a.summary = a.summary or short
        a.summary_long = a.summary_long or long_
    if not a.categories:
        a.categories = classify(a.title, a.body)
    return a


Outcome = Literal["added", "updated", "unchanged"]


def prepare(store: Store, a: Article) -> Article:
    """Do ahead, outside any transaction, the slow part of :func:`save` (summaries and
    categories) for a story the store does not hold yet, so that saving holds the write lock
    only for the writes."""
    a.content_hash = content_hash(a)
    a.story_key = a.story_key or story_key(a)
    held = store.db.execute(
        "SELECT 1 FROM articles WHERE content_hash = ?", (a.content_hash,)
    ).fetchone()
    return a if held else enrich(a)


def save(store: Store, a: Article) -> tuple[int, Outcome]:
    """Add ``a``, or update the stored story it replaces. Re-saving the same text changes nothing;
    the same source and title with new text updates that story in place."""
    a.content_hash = content_hash(a)
    a.story_key = a.story_key or story_key(a)
    db = store.db
    with store.transaction():
        same = db.execute(
            "SELECT id FROM articles WHERE content_hash = ?", (a.content_hash,)
        ).fetchone()
        if same:
            return int(same[0]), "unchanged"
        enrich(a)
        now = now_iso()
        prev = db.execute(
            "SELECT id, added_at, category_override FROM articles WHERE story_key = ?"
            " ORDER BY id LIMIT 1",
            (a.story_key,),
        ).fetchone()
        a.updated_at = now
        if prev:
            a.id, a.added_at = int(prev[0]), prev[1]
            if a.category_override is None and prev[2]:
                a.category_override = json.loads(prev[2])  # a re-import keeps an admin's choice
            row = a.to_row()
            db["articles"].update(a.id, row)
            _reindex(store, a.id)
            return a.id, "updated"
        a.added_at = a.added_at or now  # a restored export keeps when it was first added
        row = a.to_row()
        row.pop("id")
        a.id = int(db["articles"].insert(row).last_pk)
        _reindex(store, a.id)
        return a.id, "added"


def _rows(cur: Any) -> list[Article]:
    """The stories a ``SELECT * FROM articles ...`` cursor holds."""
    cols = [d[0] for d in cur.description]
    return [Article.from_row(dict(zip(cols, r))) for r in cur.fetchall()]


def get(store: Store, article_id: int) -> Article | None:
    found = _rows(store.db.execute("SELECT * FROM articles WHERE id = ?", (article_id,)))
    return found[0] if found else None


def require(store: Store, article_id: int) -> Article:
    a = get(store, article_id)
    if a is None:
        raise StoreError(f"no story with id {article_id}")
    return a


def update(store: Store, article_id: int, **changes: Any) -> Article:
    """Change fields of a story; derived fields follow (the summaries when the text changes, or
    when the summary is emptied: made from the text again)."""
    a = require(store, article_id)
    unknown = set(changes) - set(Article.__dataclass_fields__)
    if unknown:
        raise StoreError(f"unknown field(s): {', '.join(sorted(unknown))}")
    text_changed = any(k in changes for k in ("title", "subtitle", "body"))
    for k, v in changes.items():
        setattr(a, k, v)
    if text_changed:
        a.content_hash = content_hash(a)
        if "summary" not in changes:
            a.summary = a.summary_long = ""
    if text_changed or not a.summary:
        enrich(a)
    a.updated_at = now_iso()
    with store.transaction():
        clash = store.db.execute(
            "SELECT id FROM articles WHERE content_hash = ? AND id != ?", (a.content_hash, a.id)
        ).fetchone()
        if clash:
            raise StoreError(f"story {clash[0]} already has this exact text")
        store.db["articles"].update(a.id, a.to_row())
        _reindex(store, int(article_id))
    return a


def delete(store: Store, article_id: int) -> Article:
    a = require(store, article_id)
    with store.transaction():
        _unindex(store, article_id)
        store.db["articles"].delete(article_id)
    return a


def latest(store: Store, limit: int = 5, category: str | None = None, offset: int = 0) -> list[Article]:
    """Newest first; ``category`` filters on the effective categories."""
    sql = "SELECT * FROM articles"
    args: list[Any] = []
    if category:
        sql += (
            " WHERE EXISTS (SELECT 1 FROM json_each(COALESCE(category_override, categories))"
            " WHERE value = ?)"
        )
        args.append(category)
    sql += " ORDER BY added_at DESC, id DESC LIMIT ? OFFSET ?"
    args += [limit, offset]
    return _rows(store.db.execute(sql, args))


def many(store: Store, ids: Iterable[int]) -> list[Article]:
    """Stories by id, in the order given; missing ids are left out."""
    ids = list(ids)
    if not ids:
        return []
    cur = store.db.execute(
        f"SELECT * FROM articles WHERE id IN ({','.join('?' * len(ids))})", ids
    )
    found = {a.id: a for a in _rows(cur)}
    return [found[i] for i in ids if i in found]


def every(store: Store) -> Iterator[Article]:
    """All stories in id order, read in batches (an export of a large store stays small)."""
    last = 0
    while True:
        cur = store.db.execute("SELECT * FROM articles WHERE id > ? ORDER BY id LIMIT 500", (last,))
        batch = _rows(cur)
        if not batch:
            return
        last = int(batch[-1].id or 0)
        yield from batch


def count(store: Store) -> int:
    return int(store.db.execute("SELECT COUNT(*) FROM articles").fetchone()[0])


def generation(store: Store) -> int:
    """A number that changes whenever any story is added, edited or deleted (or the index is
    rebuilt), by any process: moved by triggers of the store's schema. One primary-key read."""
    row = store.db.execute(
        "SELECT value FROM meta WHERE key = 'articles.generation'").fetchone()
    return int(row[0]) if row else 0


def _reindex(store: Store, article_id: int) -> None:
    """Keep the search index in step with the row (the index lives in ``store.search``)."""
    from store import search  # here: store.search needs jieba and the models, heavy

    search.index_article(store, article_id)


def _unindex(store: Store, article_id: int) -> None:
    from store import search  # here: store.search needs jieba and the models, heavy

    search.remove_article(store, article_id)
