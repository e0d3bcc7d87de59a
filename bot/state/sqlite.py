"""SQLite state backend: one WAL-mode file shared by the worker processes of one host."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bot.state import Claim, ClaimStatus, Settle, StateBackend, StateUnavailable, Write
from store.db import enable_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY, answer TEXT, lease_until REAL NOT NULL, expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL);
CREATE INDEX IF NOT EXISTS claims_expiry ON claims (expires_at);
DROP INDEX IF EXISTS kv_expiry;
"""

_PURGE_EVERY = 500  # writes between sweeps of expired rows
_PURGE_BATCH = 1000  # rows a sweep deletes (claims) or looks at (values) at most
# Values have no expiry index: a handler sets one per message (the user's list, a new expiry
# each time), and moving its index entry weighed on every group commit. A sweep looks at
# the next _PURGE_BATCH values in rowid order instead, from where the last one stopped; an
# expired value reads as missing meanwhile, so the sweep only gives the space back.
_SWEEP_KV = (
    "DELETE FROM kv WHERE rowid IN (SELECT rowid FROM kv WHERE rowid > ? ORDER BY rowid LIMIT ?)"
    " AND expires_at < ?"
)
_SWEEP_KV_END = "SELECT MAX(rowid) FROM (SELECT rowid FROM kv WHERE rowid > ? ORDER BY rowid LIMIT ?)"
_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
_T = TypeVar("_T")


def _failure(e: BaseException) -> bool:
    """SQLite's own failures, as opposed to a value it cannot store: the file locked past
    ``busy_timeout``, a full disk, an I/O error (operational), a damaged file (the base class
    itself)."""
    return isinstance(e, sqlite3.OperationalError) or type(e) is sqlite3.DatabaseError


def _guarded(method: Callable[..., _T]) -> Callable[..., _T]:
    """The backend's SQLite failures leave ``method`` as :class:`StateUnavailable`."""

    @functools.wraps(method)
    def guarded(self: SQLiteState, *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as e:
            if not _failure(e):
                raise
            raise StateUnavailable(f"state file {self.path}: {e}") from None

    return guarded


class SQLiteState(StateBackend):
    """Writes are single statements where one will do (an upsert is atomic on its own), and
    the threads of one process take turns for them: two connections of one process that
    collide inside SQLite wait in its busy handler, which sleeps in steps of milliseconds.
    Other processes still meet through SQLite's own locking (``busy_timeout``)."""

    name = "sqlite"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._writes = 0
        self._kv_swept = 0  # the rowid the last sweep of values stopped at
        self._wlock = threading.Lock()
        if self.path.parent and not self.path.parent.exists():
            raise StateUnavailable(
                f"folder of the state file {self.path} ([state] path) does not exist"
            )
        try:
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StateUnavailable(
                f"cannot open the state file {self.path} ([state] path): {e}"
            ) from None

    # One connection per thread; sqlite3 connections must not cross threads.
    @property
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA busy_timeout=10000")
            enable_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def _tx(self) -> _Tx:
        return _Tx(self._db, self._wlock, self.path)

    def _write(self, sql: str, params: tuple[object, ...]) -> int:
        """One statement in its own (implicit) transaction; returns the rows it changed."""
        with self._wlock:
            return self._db.execute(sql, params).rowcount

    def _tick(self, db: sqlite3.Connection) -> None:
        self._writes += 1
        if self._writes % _PURGE_EVERY == 0:
            # claims through their expiry index, only expired rows read, a batch at a time (a
            # message makes one claim per two writes, so the sweeps keep up); values by the
            # rolling sweep (_SWEEP_KV)
            now = time.time()
            start = self._kv_swept
            end = db.execute(_SWEEP_KV_END, (start, _PURGE_BATCH)).fetchone()[0]
            db.execute(_SWEEP_KV, (start, _PURGE_BATCH, now))
            self._kv_swept = end or 0  # past the last row: from the start again
            db.execute(
                "DELETE FROM claims WHERE key IN (SELECT key FROM claims"
                " WHERE expires_at < ? LIMIT ?)",
                (now, _PURGE_BATCH),
            )

    # -- claims -------------------------------------------------------------------------------
    @_guarded
    def claim(self, key: str, lease: float) -> Claim:
        now = time.time()
        with self._wlock:
            return self._take(self._db, key, None, now + lease, now + max(lease, 1.0), now)

    def _take(
        self, db: sqlite3.Connection, key: str, answer: str | None, lease_until: float,
        expires_at: float, now: float,
    ) -> Claim:
        """Take the key when it is new, expired, or its owner's lease ran out unanswered;
        otherwise the upsert changes nothing and the row says why."""
        taken = db.execute(_TAKE, (key, answer, lease_until, expires_at, now, now)).rowcount
        if taken:
            self._tick(db)
            return OWNED
        row = db.execute("SELECT answer FROM claims WHERE key = ?", (key,)).fetchone()
        if row is not None and row[0] is not None:
            return Claim(ClaimStatus.DONE, row[0])
        return Claim(ClaimStatus.PENDING)

    def settle(self, key: str, answer: str, ttl: float, writes: Sequence[Write] = ()) -> Claim:
        return self.settle_many([(key, answer, ttl, writes)])[0]

    @_guarded
    def settle_many(self, items: Sequence[Settle]) -> list[Claim | Exception]:
        """One transaction for all: each message's claim decides whether its answer and
        writes go in (a message already claimed elsewhere changes nothing). The messages'
        additions to one counter (the day's message count) are summed and written once.
        Should one message's writes fail, the transaction is undone and each message is
        settled in a transaction of its own, so only that one fails."""
        try:
            return self._settle_together(items)  # type: ignore[return-value]
        except StateUnavailable:
            raise
        except Exception:  # one message's bad writes: the others go on
            if len(items) == 1:
                raise
        return super().settle_many(items)  # each message alone, through settle

    def _settle_together(self, items: Sequence[Settle]) -> list[Claim]:
        now = time.time()
        out = []
        adds: dict[tuple[str, float | None], int] = {}
        with self._tx() as db:
            for key, answer, ttl, writes in items:
                claim = self._take(db, key, answer, now, now + ttl, now)
                if claim.status is ClaimStatus.OWNER:
                    self._apply(db, writes, now, adds)
                out.append(claim)
            self._add_all(db, adds, now)
        return out

    def finish(self, key: str, answer: str, ttl: float) -> None:
        self.finish_with(key, answer, ttl, ())

    @_guarded
    def answer(self, key: str) -> str | None:
        row = self._db.execute(
            "SELECT answer FROM claims WHERE key = ? AND expires_at >= ?", (key, time.time())
        ).fetchone()
        return row[0] if row else None

    # -- values -------------------------------------------------------------------------------
    @_guarded
    def get(self, key: str) -> str | None:
        row = self._db.execute(
            "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at >= ?)",
            (key, time.time()),
        ).fetchone()
        return row[0] if row else None

    @_guarded
    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        with self._wlock:
            db = self._db
            db.execute(_PUT, (key, value, _expiry(time.time(), ttl)))
            self._tick(db)

    @_guarded
    def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT expires_at FROM kv WHERE key = ?", (key,)).fetchone()
            if row is not None and (row[0] is None or row[0] >= now):
                return False
            db.execute(_PUT, (key, value, _expiry(now, ttl)))
            return True

    @_guarded
    def bind(self, key: str, value: str, ttl: float) -> str:
        return self.bind_many([(key, value, ttl)])[0]

    @_guarded
    def bind_many(self, items: Sequence[tuple[str, str, float]]) -> list[str]:
        now = time.time()
        out = []
        with self._tx() as db:
            for key, value, ttl in items:
                row = db.execute(
                    "SELECT value FROM kv WHERE key = ?"
                    " AND (expires_at IS NULL OR expires_at >= ?)", (key, now),
                ).fetchone()
                if row is None:
                    db.execute(_PUT, (key, value, now + ttl))
                out.append(value if row is None else str(row[0]))
            self._tick(db)
        return out

    @_guarded
    def delete(self, key: str) -> None:
        self._write("DELETE FROM kv WHERE key = ?", (key,))

    @_guarded
    def incr(self, key: str, ttl: float | None = None) -> int:
        now = time.time()
        if _RETURNING:
            # one statement: a live counter goes up by one, an expired one starts again at 1
            with self._wlock:
                row = self._db.execute(
                    "INSERT INTO kv (key, value, expires_at) VALUES (?, '1', ?)"
                    " ON CONFLICT(key) DO UPDATE SET"
                    " value = CASE WHEN kv.expires_at < ? THEN '1'"
                    "  ELSE CAST(CAST(kv.value AS INTEGER) + 1 AS TEXT) END,"
                    " expires_at = CASE WHEN kv.expires_at < ? THEN excluded.expires_at"
                    "  ELSE kv.expires_at END"
                    " WHERE kv.expires_at < ? OR CAST(CAST(kv.value AS INTEGER) AS TEXT) = kv.value"
                    " RETURNING value",
                    (key, _expiry(now, ttl), now, now, now),
                ).fetchone()
            if row is not None:
                return int(row[0])
            # not an integer in SQL's eyes: the general path below says what it is
        with self._tx() as db:
            row = db.execute("SELECT value, expires_at FROM kv WHERE key = ?", (key,)).fetchone()
            if row is None or (row[1] is not None and row[1] < now):
                count, exp = 1, _expiry(now, ttl)
            else:
                count, exp = int(row[0]) + 1, row[1]
            db.execute(_PUT, (key, str(count), exp))
            return count

    @_guarded
    def add(self, key: str, n: int = 1, ttl: float | None = None) -> None:
        with self._wlock:
            self._add(self._db, key, n, ttl, time.time())

    @staticmethod
    def _add(db: sqlite3.Connection, key: str, n: int, ttl: float | None, now: float) -> None:
        # incr's upsert by n; a text value is not an integer in SQL's eyes and stays as it is
        db.execute(
            "INSERT INTO kv (key, value, expires_at) VALUES (?, CAST(? AS TEXT), ?)"
            " ON CONFLICT(key) DO UPDATE SET"
            " value = CASE WHEN kv.expires_at < ? THEN excluded.value"
            "  ELSE CAST(CAST(kv.value AS INTEGER) + ? AS TEXT) END,"
            " expires_at = CASE WHEN kv.expires_at < ? THEN excluded.expires_at"
            "  ELSE kv.expires_at END"
            " WHERE kv.expires_at < ? OR CAST(CAST(kv.value AS INTEGER) AS TEXT) = kv.value",
            (key, n, _expiry(now, ttl), now, n, now, now),
        )

    @_guarded
    def finish_with(
        self, key: str, answer: str | None, ttl: float, writes: Sequence[Write]
    ) -> None:
        now = time.time()
        with self._tx() as db:
            self._apply(db, writes, now)
            if answer is not None:
                db.execute(
                    "INSERT OR REPLACE INTO claims (key, answer, lease_until, expires_at)"
                    " VALUES (?, ?, ?, ?)",
                    (key, answer, now, now + ttl),
                )
            self._tick(db)

    def _apply(
        self, db: sqlite3.Connection, writes: Sequence[Write], now: float,
        adds: dict[tuple[str, float | None], int] | None = None,
    ) -> None:
        """Write ``writes`` in order. With ``adds``, counter additions are summed there (per
        key and ttl) for :meth:`_add_all`; a value set or deleted first lands the sums kept
        for its key, so the order of the writes still holds."""
        for w in writes:
            if w[0] == "add":
                if adds is None:
                    self._add(db, w[1], w[2], w[3], now)
                else:
                    adds[(w[1], w[3])] = adds.get((w[1], w[3]), 0) + w[2]
                continue
            if adds:
                self._add_all(db, adds, now, only=w[1])
            if w[0] == "set":
                db.execute(_PUT, (w[1], w[2], _expiry(now, w[3])))
            else:
                db.execute("DELETE FROM kv WHERE key = ?", (w[1],))

    def _add_all(
        self, db: sqlite3.Connection, adds: dict[tuple[str, float | None], int], now: float,
        only: str | None = None,
    ) -> None:
        """Write the summed additions (those of key ``only``, when given) and forget them."""
        for key, ttl in [k for k in adds if only is None or k[0] == only]:
            self._add(db, key, adds.pop((key, ttl)), ttl, now)

    # -- locks --------------------------------------------------------------------------------
    @_guarded
    def acquire(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT owner, expires_at FROM locks WHERE name = ?", (name,)
            ).fetchone()
            if row is not None and row[0] != owner and row[1] >= now:
                return False
            db.execute("INSERT OR REPLACE INTO locks VALUES (?, ?, ?)", (name, owner, now + ttl))
            return True

    @_guarded
    def release(self, name: str, owner: str) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM locks WHERE name = ? AND owner = ? AND expires_at >= ?",
                (name, owner, time.time()),
            )
            return cur.rowcount > 0

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


# a value and its expiry (an upsert: cheaper than REPLACE's delete and insert)
_PUT = (
    "INSERT INTO kv VALUES (?, ?, ?)"
    " ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
)
# A claim (answer NULL, a lease) or a settled message (its answer): taken when the key is new,
# expired, or held by a lease that ran out unanswered.
_TAKE = (
    "INSERT INTO claims (key, answer, lease_until, expires_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT(key) DO UPDATE SET answer = excluded.answer,"
    " lease_until = excluded.lease_until, expires_at = excluded.expires_at"
    " WHERE claims.expires_at < ? OR (claims.answer IS NULL AND claims.lease_until < ?)"
)
OWNED = Claim(ClaimStatus.OWNER)


def _expiry(now: float, ttl: float | None) -> float | None:
    return now + ttl if ttl is not None else None


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: the write lock is taken up front, so read-then-write
    sequences are atomic across processes. SQLite's own failures in it (the file locked past
    ``busy_timeout``, a full disk, I/O errors, a damaged file) leave as :class:`StateUnavailable`,
    as the contract wants; anything else (a value that cannot be stored) leaves as it came."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock, path: Path) -> None:
        self.db = db
        self.lock = lock
        self.path = path

    def _unavailable(self, e: sqlite3.Error) -> StateUnavailable:
        return StateUnavailable(f"state file {self.path}: {e}")

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException as e:
            self.lock.release()
            if _failure(e):
                raise self._unavailable(e) from None
            raise
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        try:
            if exc_type is None:
                try:
                    self.db.execute("COMMIT")
                except sqlite3.DatabaseError as e:
                    if not _failure(e):
                        raise
                    with contextlib.suppress(sqlite3.Error):  # a failed COMMIT stays open
                        self.db.execute("ROLLBACK")
                    raise self._unavailable(e) from None
            else:
                with contextlib.suppress(sqlite3.Error):  # the error on its way is the one told
                    self.db.execute("ROLLBACK")
        finally:
            self.lock.release()
        if exc is not None and _failure(exc):
            raise self._unavailable(exc) from None
