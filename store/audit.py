"""The audit log: who did what to which story, when, with the state before and after.

Every admin action writes one entry with :func:`record` inside the same transaction as the
change itself (``with store.transaction():``), so the log and the data cannot disagree: a change
that rolls back leaves no entry, and an entry always describes a change that happened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from store.db import Store, now_iso


@dataclass
class AuditEntry:
    id: int
    at: str
    admin: str
    action: str
    article_id: int | None
    before: Any
    after: Any


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def record(
    store: Store,
    admin: str,
    action: str,
    *,
    article_id: int | None = None,
    before: Any = None,
    after: Any = None,
) -> int:
    """Append one entry; call it inside the transaction that makes the change."""
    row = {
        "at": now_iso(),
        "admin": admin,
        "action": action,
        "article_id": article_id,
        "before": _dump(before),
        "after": _dump(after),
    }
    return int(store.db["audit"].insert(row).last_pk)


def entries(store: Store, limit: int = 50, admin: str | None = None) -> list[AuditEntry]:
    """Newest first; ``admin`` keeps one admin's entries."""
    sql = "SELECT id, at, admin, action, article_id, before, after FROM audit"
    args: list[Any] = []
    if admin:
        sql += " WHERE admin = ?"
        args.append(admin)
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    out = []
    for r in store.db.execute(sql, args).fetchall():
        out.append(
            AuditEntry(
                int(r[0]), r[1], r[2], r[3], r[4],
                json.loads(r[5]) if r[5] else None,
                json.loads(r[6]) if r[6] else None,
            )
        )
    return out


def snapshot(a: Any) -> dict[str, Any]:
    """What the audit keeps of a story: enough to see the change, and to restore a deletion."""
    return {
        "id": a.id,
        "title": a.title,
        "subtitle": a.subtitle,
        "kicker": a.kicker,
        "authors": a.authors,
        "body": a.body,
        "captions": a.captions,
        "categories": a.categories,
        "category_override": a.category_override,
        "source": a.source,
        "url": a.url,
        "picurl": a.picurl,
        "published": a.published,
        "summary": a.summary,
        "edited": a.edited,
    }
