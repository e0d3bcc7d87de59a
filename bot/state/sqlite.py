"""SQLite state backend: one WAL-mode file shared by the worker processes of one host."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from bot.state import Claim, ClaimStatus, StateBackend

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY, answer TEXT, lease_until REAL NOT NULL, expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL);
"""

_PURGE_EVERY = 500  # writes between sweeps of expired rows


class SQLiteState(StateBackend):
    name = "sqlite"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._writes = 0
        self._db.executescript(_SCHEMA)

    # One connection per thread; sqlite3 connections must not cross threads.
    @property
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=10000")
            self._local.db = db
        return db

    def _tx(self) -> _Tx:
        return _Tx(self._db)

    def _tick(self, db: sqlite3.Connection) -> None:
        self._writes += 1
        if self._writes % _PURGE_EVERY == 0:
            now = time.time()
            db.execute("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at < ?", (now,))
            db.execute("DELETE FROM claims WHERE expires_at < ?", (now,))

    # -- claims -------------------------------------------------------------------------------
    def claim(self, key: str, lease: float) -> Claim:
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT answer, lease_until, expires_at FROM claims WHERE key = ?", (key,)
            ).fetchone()
            if row is not None and row[2] >= now:
                answer, lease_until, _ = row
                if answer is not None:
                    return Claim(ClaimStatus.DONE, answer)
                if lease_until >= now:
                    return Claim(ClaimStatus.PENDING)
            db.execute(
                "INSERT OR REPLACE INTO claims (key, answer, lease_until, expires_at)"
                " VALUES (?, NULL, ?, ?)",
                (key, now + lease, now + max(lease, 1.0)),
            )
            self._tick(db)
            return Claim(ClaimStatus.OWNER)

    def finish(self, key: str, answer: str, ttl: float) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO claims (key, answer, lease_until, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (key, answer, now, now + ttl),
            )

    def answer(self, key: str) -> str | None:
        row = self._db.execute(
            "SELECT answer FROM claims WHERE key = ? AND expires_at >= ?", (key, time.time())
        ).fetchone()
        return row[0] if row else None

    # -- values -------------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        row = self._db.execute(
            "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at >= ?)",
            (key, time.time()),
        ).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        exp = time.time() + ttl if ttl is not None else None
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, value, exp))
            self._tick(db)

    def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT expires_at FROM kv WHERE key = ?", (key,)).fetchone()
            if row is not None and (row[0] is None or row[0] >= now):
                return False
            exp = now + ttl if ttl is not None else None
            db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, value, exp))
            return True

    def delete(self, key: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM kv WHERE key = ?", (key,))

    def incr(self, key: str, ttl: float | None = None) -> int:
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT value, expires_at FROM kv WHERE key = ?", (key,)).fetchone()
            if row is None or (row[1] is not None and row[1] < now):
                count, exp = 1, (now + ttl if ttl is not None else None)
            else:
                count, exp = int(row[0]) + 1, row[1]
            db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, str(count), exp))
            return count

    # -- locks --------------------------------------------------------------------------------
    def acquire(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT owner, expires_at FROM locks WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != owner and row[1] >= now:
                return False
            db.execute("INSERT OR REPLACE INTO locks VALUES (?, ?, ?)", (name, owner, now + ttl))
            return True

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


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: the write lock is taken up front, so read-then-write
    sequences are atomic across processes."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
