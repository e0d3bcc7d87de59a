"""The digest log: one ``digests`` row per run, one ``push_log`` row per (digest, recipient).

A recipient row moves ``pending -> sending -> sent | skipped | failed``. ``sending`` is committed
*before* the API call and the outcome *after* it, so after a crash a row is either untouched
(``pending``: send it), finished (leave it), or uncertain (``sending``: the call may or may not
have reached WeChat). Uncertain rows are sent again with the row's ``clientmsgid``: a mass send
repeated is refused (45065), but WeChat documents no ``clientmsgid`` for customer-service
messages, so there the repeat reaches the subscriber a second time (at most the calls in
flight at a crash; a platform that honours the key drops it).

A digest is ``running`` until every row is final, then ``done`` (or ``failed`` when some rows
failed for a reason worth retrying: a later run retries them, up to ``MAX_ATTEMPTS`` tries).
A run that found no new stories leaves an ``empty`` row so the log says so.

One run at a time per store: :func:`take_lease` is a lease in the ``meta`` table that a run
renews while it works; a holder that died frees it after its ttl (at once when it was a process
on this host that no longer exists). Each new holder gets a fencing token one higher than the
last. A run checks its token in the same transaction as every write (``start``,
``mark_sending``, ``record``, ``finish``), and again before a call that had to wait for the
rate limit: a run that stalled past its ttl (paused, cut off) while a newer one took over
stops at its next step, so what it had left to send is never sent twice. Only the calls it had
already begun when it stalled may land (their rows were uncertain: the newer run sent them
again with their ``clientmsgid``, as after a crash). The owner is compared with the token, so
a lease written by a release without tokens (a deploy's older hosts) still tells runs apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from store.db import Store, now_iso

MAX_ATTEMPTS = 3
LEASE_KEY = "digest_lease"


@dataclass
class Digest:
    id: int
    started_at: str
    status: str
    channel: str
    since: str | None = None
    article_ids: list[int] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    finished_at: str | None = None
    slot: str | None = None


@dataclass
class Delivery:
    """One recipient of a digest: a subscriber's openid, or ``tag:<category>`` for a mass send."""

    openid: str
    categories: list[str]
    status: str = "pending"
    reason: str = ""
    attempts: int = 0
    clientmsgid: str = ""


@dataclass(frozen=True)
class Outcome:
    openid: str
    status: str  # sent, skipped, failed
    reason: str = ""
    final: bool = True  # False: a failure a later run may retry


_COLS = "id, started_at, status, channel, since, article_ids, report, finished_at, slot"


def _digest(r: tuple[Any, ...]) -> Digest:
    return Digest(
        id=int(r[0]), started_at=r[1], status=r[2], channel=r[3], since=r[4],
        article_ids=json.loads(r[5] or "[]"), report=json.loads(r[6] or "{}"),
        finished_at=r[7], slot=r[8],
    )


def clientmsgid(digest_id: int, started_at: str, openid: str) -> str:
    """Stable per (digest, recipient); the start time keeps it unique if a store is recreated."""
    h = hashlib.sha1(f"{started_at}\x1f{openid}".encode()).hexdigest()[:16]
    return f"newsbot-d{digest_id}-{h}"


def start(
    store: Store,
    *,
    channel: str,
    since: str | None,
    article_ids: list[int],
    recipients: Iterable[Delivery],
    slot: str | None = None,
    status: str = "running",
    report: dict[str, Any] | None = None,
    lease: Lease | None = None,
) -> Digest | None:
    """Record a new digest and its whole plan in one transaction; ``None`` when ``slot`` ran.
    With ``lease``, :class:`LeaseLost` (and nothing recorded) when a newer run holds it."""
    started = now_iso()
    db = store.db
    try:
        with store.transaction() as conn:
            if lease is not None:
                _hold(conn, lease)
            cur = db.execute(
                "INSERT INTO digests (started_at, status, channel, since, article_ids, report,"
                " finished_at, slot) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    started, status, channel, since, json.dumps(article_ids),
                    json.dumps(report or {}, ensure_ascii=False),
                    started if status != "running" else None, slot,
                ),
            )
            did = int(cur.lastrowid or 0)
            db.conn.executemany(
                "INSERT INTO push_log (digest_id, openid, status, reason, at, categories,"
                " attempts, clientmsgid) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                [
                    (
                        did, r.openid, r.status, r.reason, started,
                        json.dumps(r.categories, ensure_ascii=False),
                        clientmsgid(did, started, r.openid),
                    )
                    for r in recipients
                ],
            )
    except sqlite3.IntegrityError:
        if slot is not None and slot_taken(store, slot):
            return None
        raise
    return get(store, did)


def get(store: Store, digest_id: int) -> Digest | None:
    r = store.db.execute(f"SELECT {_COLS} FROM digests WHERE id = ?", (digest_id,)).fetchone()
    return _digest(r) if r else None


def latest(store: Store) -> Digest | None:
    r = store.db.execute(f"SELECT {_COLS} FROM digests ORDER BY id DESC LIMIT 1").fetchone()
    return _digest(r) if r else None


def recent(store: Store, limit: int = 10) -> list[Digest]:
    rows = store.db.execute(
        f"SELECT {_COLS} FROM digests ORDER BY id DESC LIMIT ?", (limit,)
    ).fetchall()
    return [_digest(r) for r in rows]


def slot_taken(store: Store, slot: str) -> bool:
    return store.db.execute("SELECT 1 FROM digests WHERE slot = ?", (slot,)).fetchone() is not None


def unfinished(store: Store) -> list[Digest]:
    """Digests with work left: killed mid-push, or with failures still worth retrying."""
    rows = store.db.execute(
        f"SELECT {_COLS} FROM digests d WHERE status IN ('running', 'failed') AND EXISTS ("
        " SELECT 1 FROM push_log p WHERE p.digest_id = d.id AND (p.status IN ('pending', 'sending')"
        " OR (p.status = 'failed' AND p.attempts < ?))) ORDER BY id",
        (MAX_ATTEMPTS,),
    ).fetchall()
    return [_digest(r) for r in rows]


def due(store: Store, digest_id: int) -> list[Delivery]:
    """Rows still to send: pending, uncertain (``sending``), or failed and retryable."""
    rows = store.db.execute(
        "SELECT openid, categories, status, reason, attempts, clientmsgid FROM push_log"
        " WHERE digest_id = ? AND (status IN ('pending', 'sending')"
        " OR (status = 'failed' AND attempts < ?)) ORDER BY openid",
        (digest_id, MAX_ATTEMPTS),
    ).fetchall()
    return [Delivery(r[0], json.loads(r[1] or "[]"), r[2], r[3] or "", r[4], r[5]) for r in rows]


def mark_sending(
    store: Store, digest_id: int, openids: list[str], lease: Lease | None = None
) -> None:
    """Committed before the calls go out: after a crash these rows are known to be uncertain.
    With ``lease``, only while it is the newest (:class:`LeaseLost` otherwise)."""
    at = now_iso()
    with store.transaction() as conn:
        if lease is not None:
            _hold(conn, lease)
        conn.executemany(
            "UPDATE push_log SET status = 'sending', attempts = attempts + 1, at = ?"
            " WHERE digest_id = ? AND openid = ?",
            [(at, digest_id, o) for o in openids],
        )


def record(
    store: Store, digest_id: int, outcomes: Iterable[Outcome], lease: Lease | None = None
) -> None:
    """Commit finished calls; a final failure uses up its attempts so it is not retried.
    With ``lease``, :class:`LeaseLost` when a newer run holds it: its rows are not ours."""
    at = now_iso()
    rows = [
        (o.status, o.reason, at, MAX_ATTEMPTS if o.status == "failed" and o.final else None,
         digest_id, o.openid)
        for o in outcomes
    ]
    if not rows:
        return
    with store.transaction() as conn:
        if lease is not None:
            _hold(conn, lease)
        conn.executemany(
            "UPDATE push_log SET status = ?, reason = ?, at = ?,"
            " attempts = COALESCE(?, attempts) WHERE digest_id = ? AND openid = ?",
            rows,
        )


def tally(store: Store, digest_id: int) -> dict[str, dict[str, int]]:
    """``{status: {reason: count}}`` of a digest's rows."""
    out: dict[str, dict[str, int]] = {}
    for status, reason, n in store.db.execute(
        "SELECT status, COALESCE(reason, ''), COUNT(*) FROM push_log WHERE digest_id = ?"
        " GROUP BY status, reason",
        (digest_id,),
    ).fetchall():
        out.setdefault(status, {})[reason] = int(n)
    return out


def finish(
    store: Store, digest_id: int, status: str, report: dict[str, Any], lease: Lease | None = None
) -> None:
    with store.transaction() as conn:
        if lease is not None:
            _hold(conn, lease)
        conn.execute(
            "UPDATE digests SET status = ?, report = ?, finished_at = ? WHERE id = ?",
            (status, json.dumps(report, ensure_ascii=False), now_iso(), digest_id),
        )


def mass_sent_since(store: Store, since_iso: str) -> int:
    """Successful mass sends (``tag:`` rows) recorded since ``since_iso`` (UTC ISO time)."""
    return int(
        store.db.execute(
            "SELECT COUNT(*) FROM push_log WHERE openid LIKE 'tag:%' AND status = 'sent'"
            " AND at >= ?",
            (since_iso,),
        ).fetchone()[0]
    )


# -- one run at a time -----------------------------------------------------------------------
class LeaseLost(Exception):
    """A newer run holds the lease: this run must not send, record or finish anything more."""


@dataclass(frozen=True)
class Lease:
    """A run's hold on the store. ``token`` is its fencing token: one more than the previous
    holder's, so a stalled run that wakes up can tell that the store moved on without it."""

    owner: str
    token: int
    ttl: float


@dataclass(frozen=True)
class LeaseTry:
    lease: Lease | None  # None: refused
    holder: str = ""  # on refusal, who holds it


def lease_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{time.monotonic_ns()}"


def _holder_dead(owner: str) -> bool:
    """True when ``owner`` was a process of this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _read_lease(conn: Any) -> dict[str, Any]:
    r = conn.execute("SELECT value FROM meta WHERE key = ?", (LEASE_KEY,)).fetchone()
    held = json.loads(r[0]) if r else {}
    return {"owner": held.get("owner", ""), "until": float(held.get("until", 0)),
            "token": int(held.get("token", 0))}


def _write_lease(conn: Any, owner: str, until: float, token: int) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (LEASE_KEY, json.dumps({"owner": owner, "until": until, "token": token})),
    )


def take_lease(store: Store, owner: str, ttl: float) -> LeaseTry:
    """Take the run lease when it is free, expired, or its holder died; with a new token."""
    now = time.time()
    with store.transaction() as conn:
        held = _read_lease(conn)
        busy = held["owner"] and held["until"] >= now and not _holder_dead(held["owner"])
        if busy:
            return LeaseTry(None, str(held["owner"]))
        token = held["token"] + 1
        _write_lease(conn, owner, now + ttl, token)
    return LeaseTry(Lease(owner, token, ttl))


def _hold(conn: Any, lease: Lease) -> None:
    """Inside a transaction: go on only while ``lease`` is the newest. A lease past its time
    that nobody took is still this run's: no other run sent anything since."""
    held = _read_lease(conn)
    if held["token"] != lease.token or held["owner"] != lease.owner:
        raise LeaseLost(f"the digest lease passed to {held['owner'] or 'another run'}"
                        f" (token {held['token']}, this run's {lease.token})")


def renew_lease(store: Store, lease: Lease) -> None:
    """Extend the lease; :class:`LeaseLost` when a newer run took it."""
    with store.transaction() as conn:
        _hold(conn, lease)
        _write_lease(conn, lease.owner, time.time() + lease.ttl, lease.token)


def check_lease(store: Store, lease: Lease) -> None:
    """A read, right before a call goes out: :class:`LeaseLost` when a newer run took it."""
    held = _read_lease(store.db.conn)
    if held["token"] != lease.token or held["owner"] != lease.owner:
        raise LeaseLost(f"the digest lease passed to {held['owner'] or 'another run'}")


def drop_lease(store: Store, lease: Lease) -> None:
    """Free the lease if this run still holds it; the token stays, so the next one is newer."""
    with store.transaction() as conn:
        held = _read_lease(conn)
        if held["token"] == lease.token and held["owner"] == lease.owner:
            _write_lease(conn, "", 0.0, lease.token)
