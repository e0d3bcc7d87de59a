"""Subscribers: who gets the daily digest, in which categories, and when they last spoke."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from store.categories import CATEGORIES
from store.db import Store, now_iso

# The 48-hour window needs no finer grain than a minute: a user's later messages within this
# many seconds are not written again (last_seen can only lag, so the window never widens).
TOUCH_EVERY = 60.0
TOUCH_MEMO_SIZE = 10_000  # users remembered per process; the oldest are forgotten first


@dataclass
class Subscriber:
    openid: str
    categories: list[str]
    following: bool
    last_seen: float | None


def _row(r: tuple) -> Subscriber:  # type: ignore[type-arg]
    return Subscriber(r[0], json.loads(r[1] or "[]"), bool(r[2]), r[3])


def get(store: Store, openid: str) -> Subscriber | None:
    store.flush()  # this process's queued touches first
    r = store.db.execute(
        "SELECT openid, categories, following, last_seen FROM subscribers WHERE openid = ?",
        (openid,),
    ).fetchone()
    return _row(r) if r else None


def subscribe(store: Store, openid: str, categories: Iterable[str]) -> Subscriber:
    """Add ``categories`` to the user's subscriptions (kept in ``CATEGORIES`` order)."""
    cats = set(categories)
    with store.transaction():
        cur = get(store, openid)
        have = set(cur.categories) if cur else set()
        new = [c for c in CATEGORIES if c in have | cats]
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
    # what was just written: no second read
    return Subscriber(openid, new, True, cur.last_seen if cur else None)


def unsubscribe(
    store: Store, openid: str, categories: Iterable[str] | None = None
) -> Subscriber | None:
    """Drop ``categories`` (all when ``None``) from the user's subscriptions."""
    with store.transaction():
        cur = get(store, openid)
        if cur is None:
            return None
        drop = set(CATEGORIES if categories is None else categories)
        new = [c for c in cur.categories if c not in drop]
        store.db["subscribers"].update(
            openid, {"categories": json.dumps(new, ensure_ascii=False), "updated_at": now_iso()}
        )
    return Subscriber(openid, new, cur.following, cur.last_seen)


def set_following(store: Store, openid: str, following: bool) -> None:
    """Follow / unfollow events: an unfollowed user receives nothing."""
    store.write(
        "INSERT INTO subscribers (openid, following, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(openid) DO UPDATE SET"
        " following = excluded.following, updated_at = excluded.updated_at",
        (openid, int(following), now_iso()),
    )


class _Touched:
    """When this process last wrote each recently active user's ``last_seen``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.at: dict[str, float] = {}  # insertion order is write order: oldest first
        self.lock = threading.Lock()

    def fresh(self, openid: str, at: float) -> bool:
        prev = self.at.get(openid)
        return prev is not None and 0 <= at - prev < TOUCH_EVERY

    def note(self, openid: str, at: float) -> None:
        with self.lock:
            self.at.pop(openid, None)
            self.at[openid] = at
            while len(self.at) > self.size:
                del self.at[next(iter(self.at))]


def _touched(store: Store) -> _Touched:
    memo = store.memo.get("subscribers.touched")
    if memo is None:
        memo = store.memo.setdefault("subscribers.touched", _Touched(TOUCH_MEMO_SIZE))
    return memo  # type: ignore[no-any-return]


def touch(store: Store, openid: str, at: float | None = None, *, later: bool = False) -> None:
    """Note that the user just spoke (opens the 48-hour customer-service window). Skipped when
    this process wrote the same user less than ``TOUCH_EVERY`` seconds before ``at``.
    ``later``: queued for the store's background writer (``Store.write_later``), so the
    webhook never waits on the store's write lock; this process's reads land it first."""
    at = time.time() if at is None else at
    touched = _touched(store)
    if touched.fresh(openid, at):
        return
    sql = (
        "INSERT INTO subscribers (openid, last_seen, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(openid) DO UPDATE SET last_seen = excluded.last_seen"
    )
    if later:
        store.write_later(sql, (openid, at, now_iso()))
        touched.note(openid, at)
        return
    store.write(sql, (openid, at, now_iso()))
    if not store.db.conn.in_transaction:  # only a committed write may stand in for the next
        touched.note(openid, at)


def for_digest(store: Store) -> list[Subscriber]:
    """Following users with at least one category."""
    store.flush()  # this process's queued touches first
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
