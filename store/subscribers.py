"""Subscribers: who gets the daily digest, in which categories, and when they last spoke."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterable

from store.db import Store, now_iso

ALL = ("党建", "社区")


@dataclass
class Subscriber:
    openid: str
    categories: list[str]
    following: bool
    last_seen: float | None


def _row(r: tuple) -> Subscriber:  # type: ignore[type-arg]
    return Subscriber(r[0], json.loads(r[1] or "[]"), bool(r[2]), r[3])


def get(store: Store, openid: str) -> Subscriber | None:
    r = store.db.execute(
        "SELECT openid, categories, following, last_seen FROM subscribers WHERE openid = ?",
        (openid,),
    ).fetchone()
    return _row(r) if r else None


def subscribe(store: Store, openid: str, categories: Iterable[str]) -> Subscriber:
    """Add ``categories`` to the user's subscriptions (kept in ``ALL`` order)."""
    cats = set(categories)
    with store.transaction():
        cur = get(store, openid)
        have = set(cur.categories) if cur else set()
        new = [c for c in ALL if c in have | cats]
        store.db["subscribers"].upsert(
            {
                "openid": openid,
                "categories": json.dumps(new, ensure_ascii=False),
                "following": 1,
                "subscribed_at": now_iso(),
                "updated_at": now_iso(),
            },
            pk="openid",
        )
    return get(store, openid)  # type: ignore[return-value]


def unsubscribe(store: Store, openid: str, categories: Iterable[str] | None = None) -> Subscriber | None:
    """Drop ``categories`` (all when ``None``) from the user's subscriptions."""
    with store.transaction():
        cur = get(store, openid)
        if cur is None:
            return None
        drop = set(ALL if categories is None else categories)
        new = [c for c in cur.categories if c not in drop]
        store.db["subscribers"].update(
            openid, {"categories": json.dumps(new, ensure_ascii=False), "updated_at": now_iso()}
        )
    return get(store, openid)


def set_following(store: Store, openid: str, following: bool) -> None:
    """Follow / unfollow events: an unfollowed user receives nothing."""
    store.db["subscribers"].upsert(
        {"openid": openid, "following": int(following), "updated_at": now_iso()}, pk="openid"
    )


def touch(store: Store, openid: str, at: float | None = None) -> None:
    """Note that the user just spoke (opens the 48-hour customer-service window)."""
    store.db.execute(
        "INSERT INTO subscribers (openid, last_seen, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(openid) DO UPDATE SET last_seen = excluded.last_seen",
        (openid, time.time() if at is None else at, now_iso()),
    )


def for_digest(store: Store) -> list[Subscriber]:
    """Following users with at least one category."""
    rows = store.db.execute(
        "SELECT openid, categories, following, last_seen FROM subscribers"
        " WHERE following = 1 AND categories != '[]' ORDER BY openid"
    ).fetchall()
    return [_row(r) for r in rows]


def count(store: Store) -> int:
    return int(
        store.db.execute(
            "SELECT COUNT(*) FROM subscribers WHERE following = 1 AND categories != '[]'"
        ).fetchone()[0]
    )
