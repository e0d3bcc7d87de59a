"""Admins kept in the store (besides those in ``[admin] openids``): add, remove, list."""

from __future__ import annotations

from dataclasses import dataclass

from store import audit
from store.db import Store, now_iso


@dataclass
class StoredAdmin:
    openid: str
    added_at: str
    added_by: str


def openids(store: Store) -> frozenset[str]:
    return frozenset(r[0] for r in store.db.execute("SELECT openid FROM admins").fetchall())


def all_admins(store: Store) -> list[StoredAdmin]:
    rows = store.db.execute(
        "SELECT openid, added_at, COALESCE(added_by, '') FROM admins ORDER BY added_at, openid"
    ).fetchall()
    return [StoredAdmin(*r) for r in rows]


def add(store: Store, openid: str, by: str) -> bool:
    """Make ``openid`` an admin; False when it already was one. Audited as ``admin_add``."""
    with store.transaction():
        if store.db.execute("SELECT 1 FROM admins WHERE openid = ?", (openid,)).fetchone():
            return False
        store.db["admins"].insert({"openid": openid, "added_at": now_iso(), "added_by": by})
        audit.record(store, by, "admin_add", after={"openid": openid})
    return True


def remove(store: Store, openid: str, by: str) -> bool:
    """Revoke ``openid``; False when it was not a stored admin. Audited as ``admin_remove``."""
    with store.transaction():
        if not store.db.execute("SELECT 1 FROM admins WHERE openid = ?", (openid,)).fetchone():
            return False
        store.db["admins"].delete(openid)
        audit.record(store, by, "admin_remove", before={"openid": openid})
    return True
