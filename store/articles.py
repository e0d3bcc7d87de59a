"""Articles: the one way stories are added, read, changed and removed.

Every write goes through here so that derived fields (summary, categories, content hash) and
the search index stay consistent with the story. Lists are stored as JSON text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from store.audit import record, snapshot
from store.categories import classify
from store.db import Store, StoreError, now_iso
from store.summary import summarise
from store.text import chinese_punctuation

JSON_FIELDS = ("authors", "body", "captions", "categories", "category_override", "edited")
# What an editor can change; a later import of the same story keeps each one changed.
EDITABLE = ("title", "subtitle", "kicker", "authors", "categories", "body", "summary", "url",
            "picurl", "published")
# An editable name and the stored fields it stands for.
_EDIT_COLUMNS = {"categories": ("category_override",), "summary": ("summary", "summary_long")}
SAME_STORY = 0.6  # share of common 3-character pieces: the same story, however it is titled
SAME_STORY_MIN = 40  # characters of text a story needs before it is matched by its text
SAME_SOURCE_MAX = 60  # stories of one source compared by text (a printed page holds ~10)


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
    edited: list[str] = field(default_factory=list)  # EDITABLE names an editor has changed
    publication: str = ""  # the source as readers know it: a paper's masthead, a site's name

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
        if isinstance(data.get("url"), str) and not data["url"]:
            data["url"] = None
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
    """Where a story came from and what it is called, as its importer read it: the first way
    a re-import finds the story (then its address, then its text; see :func:`_previous`)."""
    return f"{a.url or a.source}\x1f{a.title.strip()}"


class BadAddress(StoreError):
    """An address that is not an http(s) web address; ``str(e)`` says which field and why."""


_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def web_url(value: Any, what: str = "url") -> str:
    """``value`` as an address readers may be sent to: http:// or https:// with a host, else
    :class:`BadAddress` (``javascript:``, ``data:``, ``file:``, a bare path…). Empty stays
    empty. Every address a story stores passes here, from every path that writes one."""
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    parts = urlsplit(text) if not _CONTROL.search(text) else None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        shown = text if len(text) <= 60 else text[:59] + "…"
        raise BadAddress(f"{what} {shown!r} is not a web address (only http:// or https://)")
    return text


def _check_addresses(a: Article) -> None:
    a.url = web_url(a.url, "url") or None
    a.picurl = web_url(a.picurl, "picurl")


def enrich(a: Article) -> Article:
    """Fill the derived fields the caller left empty: summaries and categories. Chinese text
    gets Chinese punctuation first (a half-width , between Chinese characters becomes ，)."""
    cp = chinese_punctuation
    a.title, a.subtitle, a.kicker = cp(a.title), cp(a.subtitle), cp(a.kicker)
    a.body, a.captions = [cp(p) for p in a.body], [cp(c) for c in a.captions]
    if not a.summary or not a.summary_long:
        short, long_ = summarise(a.title, a.body)
        a.summary = a.summary or short
        a.summary_long = a.summary_long or long_
    if not a.categories:
        a.categories = classify(a.title, a.body)
    return a


Outcome = Literal["added", "updated", "unchanged"]


def prepare(store: Store, a: Article) -> Article:
    """Do ahead, outside any transaction, the slow part of saving a story the store has no
    sign of yet (summaries and categories), so that saving holds the write lock only for the
    writes. The text is left as given (the story's identity is made from it); a story that
    may be a stored one (same text, key or address) is left to :func:`merge`, which decides
    what of it to keep."""
    if a.summary and a.summary_long and a.categories:
        return a
    known = store.db.execute(
        "SELECT 1 FROM articles WHERE content_hash = ? OR story_key = ? OR url = ? LIMIT 1",
        (content_hash(a), a.story_key or story_key(a), a.url or ""),
    ).fetchone()
    if known:
        return a
    done = enrich(replace(a))
    a.summary = a.summary or done.summary
    a.summary_long = a.summary_long or done.summary_long
    a.categories = a.categories or done.categories
    return a


class Saved(NamedTuple):
    id: int
    outcome: Outcome
    kept: list[str]  # fields an editor changed that the saved text would otherwise replace
    before: Article | None  # the stored story this one replaced


def save(store: Store, a: Article) -> tuple[int, Outcome]:
    """Add ``a``, or update the stored story it is (see :func:`merge`)."""
    saved = merge(store, a)
    return saved.id, saved.outcome


def merge(store: Store, a: Article, *, overwrite_edits: bool = False,
          taken: Collection[int] = ()) -> Saved:
    """Add ``a``, or update the stored story it is: found by its key, its address or its text
    (an import whose title an editor or a better importer changed is the same story, same
    id). Re-saving the same text changes nothing. Fields an editor changed are kept unless
    ``overwrite_edits``; ``Saved.kept`` names those that differ from ``a``. ``taken``: stories
    another story of the same import already is, never this one's match by text (two stories
    of one page that read alike stay two)."""
    _check_addresses(a)
    a.content_hash = content_hash(a)
    a.story_key = a.story_key or story_key(a)
    db = store.db
    with store.transaction():
        same = db.execute(
            "SELECT id FROM articles WHERE content_hash = ?", (a.content_hash,)
        ).fetchone()
        if same and not overwrite_edits:
            return Saved(int(same[0]), "unchanged", [], None)
        prev = _previous(store, a, taken)
        if prev is None:
            return Saved(_insert(store, a), "added", [], None)
        kept = _keep_edits(prev, a, overwrite_edits)
        if _same_fields(prev, a):
            return Saved(int(prev.id or 0), "unchanged", kept, None)
        a.id, a.added_at = prev.id, prev.added_at
        if not overwrite_edits and a.category_override is None:
            a.category_override = prev.category_override  # an admin's choice of categories
        a.content_hash = content_hash(a)
        clash = db.execute("SELECT id FROM articles WHERE content_hash = ? AND id != ?",
                           (a.content_hash, a.id)).fetchone()
        if clash:  # the merged text is another stored story's: nothing to change here
            return Saved(int(clash[0]), "unchanged", kept, None)
        enrich(a)
        a.updated_at = now_iso()
        db["articles"].update(a.id, a.to_row())
        _reindex(store, int(a.id or 0))
        return Saved(int(a.id or 0), "updated", kept, prev)


def _insert(store: Store, a: Article) -> int:
    enrich(a)
    now = now_iso()
    a.updated_at = now
    a.added_at = a.added_at or now  # a restored export keeps when it was first added
    row = a.to_row()
    row.pop("id")
    a.id = int(store.db["articles"].insert(row).last_pk)
    _reindex(store, a.id)
    return a.id


def _previous(store: Store, a: Article, taken: Collection[int] = ()) -> Article | None:
    """The stored story ``a`` is: the same key; else the same address; else, among the stories
    of the same source, the one whose text is mostly the same."""
    found = _rows(store.db.execute(
        "SELECT * FROM articles WHERE story_key = ? ORDER BY id LIMIT 1", (a.story_key,)))
    if not found and a.url:
        found = _rows(store.db.execute(
            "SELECT * FROM articles WHERE url = ? ORDER BY id LIMIT 1", (a.url,)))
    if found:
        return found[0]
    mine = _pieces(a.body)
    if not a.source or len(mine) < SAME_STORY_MIN:
        return None
    others = _rows(store.db.execute("SELECT * FROM articles WHERE source = ? LIMIT ?",
                                    (a.source, SAME_SOURCE_MAX + 1)))
    if len(others) > SAME_SOURCE_MAX:  # not one page but a channel (#添加's): keys only
        return None
    best: tuple[float, Article | None] = (SAME_STORY, None)
    for other in others:
        if other.id in taken:
            continue
        theirs = _pieces(other.body)
        score = len(mine & theirs) / max(1, len(mine | theirs))
        if score >= best[0]:
            best = (score, other)
    return best[1]


_NOT_TEXT = re.compile(r"[\W_]+")


def _pieces(body: list[str]) -> set[str]:
    text = _NOT_TEXT.sub("", "".join(body))
    return {text[i:i + 3] for i in range(len(text) - 2)}


def _columns(name: str) -> tuple[str, ...]:
    return _EDIT_COLUMNS.get(name, (name,))


def _keep_edits(prev: Article, a: Article, overwrite: bool) -> list[str]:
    """Put an editor's values back into ``a``; the names of those that differed."""
    kept = []
    for name in prev.edited:
        cols = _columns(name)
        if any(getattr(a, c) != getattr(prev, c) for c in cols):
            kept.append(name)
        if not overwrite:
            for c in cols:
                setattr(a, c, getattr(prev, c))
    a.edited = [] if overwrite else list(prev.edited)
    return kept


_COMPARED = ("title", "subtitle", "kicker", "authors", "body", "captions", "source", "url",
             "picurl", "published", "edited", "publication")
_DERIVED = ("categories", "summary", "summary_long")  # made by enrich() when left empty


def _same_fields(prev: Article, a: Article) -> bool:
    if a.category_override is not None and a.category_override != prev.category_override:
        return False
    if any(getattr(a, f) and getattr(a, f) != getattr(prev, f) for f in _DERIVED):
        return False
    return all(getattr(prev, f) == getattr(a, f) for f in _COMPARED)


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
    a = _changed(require(store, article_id), changes)
    with store.transaction():
        _write(store, a)
    return a


def _changed(a: Article, changes: dict[str, Any]) -> Article:
    """``a`` with ``changes`` and what follows from them (no store access: the slow part of a
    change, done before its transaction)."""
    unknown = set(changes) - set(Article.__dataclass_fields__)
    if unknown:
        raise StoreError(f"unknown field(s): {', '.join(sorted(unknown))}")
    text_changed = any(k in changes for k in ("title", "subtitle", "body"))
    for k, v in changes.items():
        setattr(a, k, v)
    _check_addresses(a)
    if text_changed:
        a.content_hash = content_hash(a)
        if "summary" not in changes:
            a.summary = a.summary_long = ""
        if "categories" not in changes:
            a.categories = []  # classified again from the new text
    if text_changed or not a.summary:
        enrich(a)
    a.updated_at = now_iso()
    return a


def _write(store: Store, a: Article) -> None:
    clash = store.db.execute(
        "SELECT id FROM articles WHERE content_hash = ? AND id != ?", (a.content_hash, a.id)
    ).fetchone()
    if clash:
        raise StoreError(f"story {clash[0]} already has this exact text")
    store.db["articles"].update(a.id, a.to_row())
    _reindex(store, int(a.id or 0))


def edit(store: Store, article_id: int, editor: str, *, action: str = "edit",
         **changes: Any) -> Article:
    """An editor's change: the fields set, marked as the editor's (a later import keeps them),
    and one audit entry with the story before and after, in one transaction (the summaries of
    new text are made before it, so an edit holds the write lock only to write). Changing
    ``categories`` sets the admin's override; ``summary`` empty makes it from the text again
    (and is no longer the editor's)."""
    names = set(changes) - {"category_override", "summary_long"}
    unknown = names - set(EDITABLE)
    if unknown:
        raise StoreError(f"not an editable field: {', '.join(sorted(unknown))}")
    if "categories" in changes:
        changes["category_override"] = changes.pop("categories")
    before = require(store, article_id)
    after = _changed(require(store, article_id), _marked(before, names, changes))
    with store.transaction():
        now = require(store, article_id)
        if now.to_row() != before.to_row():  # changed meanwhile: on the story as it is
            before = now
            after = _changed(require(store, article_id), _marked(now, names, changes))
        _write(store, after)
        record(store, editor, action, article_id=article_id, before=snapshot(before),
               after=snapshot(after))
    return after


def _marked(before: Article, names: set[str], changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` with the story's list of editor-changed fields brought up to date."""
    out = dict(changes)
    edited = [n for n in before.edited if n not in names] + [n for n in EDITABLE if n in names]
    dropped = {"summary": out.get("summary") == "",
               "categories": "category_override" in out and out["category_override"] is None}
    out["edited"] = [n for n in edited if not dropped.get(n)]
    if "summary" in out["edited"] and "summary" not in out:  # new text keeps the editor's
        out["summary"], out["summary_long"] = before.summary, before.summary_long
    return out


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


GENERATION_KEY = "articles.generation"
SOURCE_STORY = "微信后台"  # the source of a story an admin wrote by message (#添加)


def generation(store: Store) -> int:
    """A number that changes whenever any story is added, edited or deleted (or the index is
    rebuilt), by any process: moved by triggers of the store's schema. One primary-key read."""
    row = store.db.execute("SELECT value FROM meta WHERE key = ?", [GENERATION_KEY]).fetchone()
    return int(row[0]) if row else 0


def _reindex(store: Store, article_id: int) -> None:
    """Keep the search index in step with the row (the index lives in ``store.search``)."""
    from store import search  # here: store.search needs jieba and the models, heavy

    search.index_article(store, article_id)


def _unindex(store: Store, article_id: int) -> None:
    from store import search  # here: store.search needs jieba and the models, heavy

    search.remove_article(store, article_id)
