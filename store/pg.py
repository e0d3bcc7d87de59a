"""The PostgreSQL store: the same contract as store/db.py's SQLite ``Store``, for several hosts.

Store modules write one SQL dialect, the subset both engines take (``ON CONFLICT``, CTEs,
``?`` placeholders), and call ``store.db.execute``, ``store.transaction()``, ``store.write()``
and a few sqlite-utils table helpers (``db["t"].insert/upsert/update/delete``). This module
gives a PostgreSQL store the same surface:

* placeholders and the few SQLite-only spellings (``INSERT OR REPLACE``, ``json_each``,
  pragmas) are rewritten once per statement text (:mod:`store.pg_sql`);
* ``transaction()`` holds one pooled connection for the thread and takes a store-wide advisory
  lock first, as SQLite's ``BEGIN IMMEDIATE`` does: every module's read-then-write stays
  correct when the writers are on other hosts; a statement outside a transaction borrows a
  connection for itself (autocommit);
* errors arrive as the DB-API classes of ``sqlite3`` (IntegrityError, OperationalError,
  DatabaseError), so callers catch one family whichever engine runs; a server that cannot be
  reached raises :class:`store.db.StoreUnavailable`.

The pool is small and bounded (``[store] pool_size`` per process): processes x hosts x pool
size must stay under the server's ``max_connections``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg_pool

from store import pg_schema
from store.db import StoreError, StoreUnavailable, _Later
from store.pg_sql import PRAGMA_ROWS, Statement, translate

log = logging.getLogger("newsbot.store")

LOCK_KEY = 0x6E657773  # the advisory lock every write transaction takes ("news")


def redact(url: str) -> str:
    """``url`` without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Result:
    """What a statement gave: a cursor's read side, already fetched (the connection is back in
    the pool by the time a caller reads it)."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    description: list[tuple[Any, ...]] | None = None
    lastrowid: int | None = None
    rowcount: int = -1
    _i: int = 0

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._i >= len(self.rows):
            return None
        self._i += 1
        return self.rows[self._i - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        out, self._i = self.rows[self._i:], len(self.rows)
        return out

    def fetchmany(self, n: int) -> list[tuple[Any, ...]]:
        out = self.rows[self._i:self._i + n]
        self._i += len(out)
        return out

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while (row := self.fetchone()) is not None:
            yield row


def _params(params: Sequence[Any] | None) -> list[Any]:
    # SQLite stores True as 1 in an INTEGER column; PostgreSQL refuses a boolean there
    return [int(p) if isinstance(p, bool) else p for p in (params or ())]


@contextmanager
def _errors(url: str) -> Iterator[None]:
    """psycopg's errors as sqlite3's classes; an unreachable server as StoreUnavailable."""
    try:
        yield
    except psycopg_pool.PoolTimeout as e:
        raise StoreUnavailable(f"store {redact(url)} cannot be reached: {e}") from None
    except psycopg.IntegrityError as e:
        raise sqlite3.IntegrityError(str(e).strip()) from e
    except psycopg.OperationalError as e:
        if getattr(e, "sqlstate", None) in (None, "57P01", "57P02", "57P03", "08006", "08003",
                                            "08001", "08004"):
            raise StoreUnavailable(f"store {redact(url)} is unavailable: {e}") from None
        raise sqlite3.OperationalError(str(e).strip()) from e
    except (psycopg.ProgrammingError, psycopg.errors.QueryCanceled) as e:
        raise sqlite3.OperationalError(str(e).strip()) from e
    except psycopg.Error as e:
        raise sqlite3.DatabaseError(str(e).strip()) from e


def _run(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any] | None) -> Result:
    st: Statement = translate(sql)
    if st.pragma is not None:
        return Result(rows=list(PRAGMA_ROWS.get(st.pragma, [])))
    cur = conn.execute(st.sql, _params(params) if st.has_params else None)  # type: ignore[arg-type]
    res = Result(rowcount=cur.rowcount)
    if cur.description is not None:
        rows = cur.fetchall()
        if st.returns_id:
            res.lastrowid = int(rows[0][0]) if rows else None
        else:
            res.rows = rows
            res.description = [(c.name, None, None, None, None, None, None)
                               for c in cur.description]
    return res


PREPARE_AFTER = 5  # runs of one statement on a connection before its plan is kept
CHECK_IDLE = 2.0  # seconds a pooled connection may sit unused before it is checked on checkout


def _note_use(conn: psycopg.Connection[Any]) -> None:
    conn._newsbot_idle_since = time.monotonic()  # type: ignore[attr-defined]


def _check_if_idle(conn: psycopg.Connection[Any]) -> None:
    """A connection that sat in the pool (across a restart or a failover, perhaps) is checked
    before use; one in steady use is not, which spares a round trip per statement."""
    since = getattr(conn, "_newsbot_idle_since", None)
    if since is None or time.monotonic() - since > CHECK_IDLE:
        psycopg_pool.ConnectionPool.check_connection(conn)


class Conn:
    """The ``conn`` a store module sees (``store.db.conn``, ``with store.transaction() as
    conn``): statements go to the thread's transaction when one is open."""

    def __init__(self, store: PgStore) -> None:
        self.store = store

    @property
    def in_transaction(self) -> bool:
        return self.store._held() is not None

    def execute(self, sql: str, params: Sequence[Any] | None = ()) -> Result:
        return self.store.execute(sql, params)

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> Result:
        return self.store.executemany(sql, seq)


class Table:
    """The sqlite-utils table helpers the store modules use, in portable SQL."""

    def __init__(self, store: PgStore, name: str) -> None:
        self.store = store
        self.name = name
        self.last_pk: Any = None

    def _pk(self) -> tuple[str, ...]:
        return pg_schema.PRIMARY_KEYS[self.name]

    def insert(self, row: dict[str, Any], pk: Any = None) -> Table:
        cols = list(row)
        sql = (f"INSERT INTO {self.name} ({', '.join(cols)}) VALUES"
               f" ({', '.join('?' * len(cols))}) RETURNING {', '.join(self._pk())}")
        got = self.store.execute(sql, [row[c] for c in cols]).fetchone()
        self.last_pk = got[0] if got and len(got) == 1 else got
        return self

    def insert_all(self, rows: Sequence[dict[str, Any]], pk: Any = None,
                   batch_size: int = 100, **_: Any) -> Table:
        rows = list(rows)
        if rows:
            cols = list(rows[0])
            sql = f"INSERT INTO {self.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            self.store.executemany(sql, [[r.get(c) for c in cols] for r in rows])
        return self

    def upsert(self, row: dict[str, Any], pk: Any = None) -> Table:
        keys = self._pk()
        cols = list(row)
        rest = [c for c in cols if c not in keys]
        action = ("DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in rest)
                  if rest else "DO NOTHING")
        self.store.execute(
            f"INSERT INTO {self.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            f" ON CONFLICT ({', '.join(keys)}) {action}",
            [row[c] for c in cols],
        )
        self.last_pk = row.get(keys[0]) if len(keys) == 1 else tuple(row.get(k) for k in keys)
        return self

    def update(self, pk: Any, row: dict[str, Any]) -> Table:
        keys = self._pk()
        pks = pk if isinstance(pk, (tuple, list)) else (pk,)
        cols = [c for c in row if c not in keys]
        if cols:
            self.store.execute(
                f"UPDATE {self.name} SET {', '.join(f'{c} = ?' for c in cols)}"
                f" WHERE {' AND '.join(f'{k} = ?' for k in keys)}",
                [row[c] for c in cols] + list(pks),
            )
        self.last_pk = pk
        return self

    def delete(self, pk: Any) -> Table:
        keys = self._pk()
        pks = pk if isinstance(pk, (tuple, list)) else (pk,)
        self.store.execute(f"DELETE FROM {self.name} WHERE "
                           + " AND ".join(f"{k} = ?" for k in keys), list(pks))
        return self

    def exists(self) -> bool:
        return self.name in pg_schema.PRIMARY_KEYS

    @property
    def count(self) -> int:
        return int(self.store.execute(f"SELECT count(*) FROM {self.name}").fetchone()[0])  # type: ignore[index]

    @property
    def rows(self) -> Iterator[dict[str, Any]]:
        res = self.store.execute(f"SELECT * FROM {self.name}")
        cols = [d[0] for d in res.description or []]
        return (dict(zip(cols, r)) for r in res.rows)


class Database:
    """``store.db`` of a PostgreSQL store: ``execute``, ``conn`` and ``db["table"]``."""

    engine = "postgres"

    def __init__(self, store: PgStore) -> None:
        self.store = store
        self.conn = Conn(store)

    def execute(self, sql: str, params: Sequence[Any] | None = ()) -> Result:
        return self.store.execute(sql, params)

    def __getitem__(self, name: str) -> Table:
        return Table(self.store, name)


class PgStore:
    """The article store in a PostgreSQL database at ``url``, migrated on open."""

    engine = "postgres"

    def __init__(self, url: str, pool_size: int = 4, connect_timeout: float = 3.0,
                 prepare: bool = True) -> None:
        self.url = url
        self.path = redact(url)  # what logs and cache keys name the store by
        self.memo: dict[str, Any] = {}
        self._local = threading.local()
        self.db = Database(self)
        self.pool = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=max(1, pool_size), timeout=connect_timeout,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(connect_timeout)),
                    # psycopg prepares a statement a connection has run PREPARE_AFTER times;
                    # a pooler that hands each transaction another server connection cannot
                    # keep those (``[store] prepared_statements = false``)
                    "prepare_threshold": PREPARE_AFTER if prepare else None},
            open=False, name="newsbot-store", reconnect_timeout=0,
            # a connection left from before a restart or failover is found out on checkout,
            # not by the reader whose statement it would fail
            check=_check_if_idle,
        )
        try:
            self.pool.open(wait=True, timeout=connect_timeout)
        except psycopg_pool.PoolTimeout:
            self.pool.close()
            raise StoreUnavailable(f"store {self.path} cannot be reached") from None
        try:
            with _errors(url), self._borrow() as conn:
                pg_schema.migrate(conn, self.path)
        except BaseException:
            self.pool.close()
            raise

    # -- statements ----------------------------------------------------------------------------
    @contextmanager
    def _borrow(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection for one statement or operation, noted as used when it goes back
        (what _check_if_idle reads)."""
        with self.pool.connection() as conn:
            try:
                yield conn
            finally:
                _note_use(conn)

    def _held(self) -> psycopg.Connection[Any] | None:
        return getattr(self._local, "conn", None)

    def _current(self) -> psycopg.Connection[Any] | None:
        """The thread's connection: its open transaction's, else its pinned one."""
        return self._held() or getattr(self._local, "pinned", None)

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """One pooled connection for every statement the thread runs inside (a search's dozen
        statements would otherwise each check a connection out and back in); statements still
        commit one by one, and a transaction opened inside runs on the same connection."""
        if self._current() is not None:
            yield
            return
        with _errors(self.url), self._borrow() as conn:
            self._local.pinned, self._local.pinned_memo = conn, {}
            try:
                yield
            finally:
                self._local.pinned = self._local.pinned_memo = None

    def pinned_memo(self) -> dict[str, Any] | None:
        """A dict that lives as long as the thread's pinned connection (values read once per
        operation, such as the index's totals), or ``None`` when nothing is pinned."""
        if self._held() is not None:  # a transaction may change what was read
            return None
        return getattr(self._local, "pinned_memo", None)

    def execute(self, sql: str, params: Sequence[Any] | None = ()) -> Result:
        conn = self._current()
        with _errors(self.url):
            if conn is not None:
                return _run(conn, sql, params)
            with self._borrow() as c:
                return _run(c, sql, params)

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> Result:
        st = translate(sql)
        text = st.sql.removesuffix(" RETURNING id") if st.returns_id else st.sql
        rows = [_params(p) for p in seq]
        if not rows:
            return Result()
        conn = self._current()
        with _errors(self.url):
            if conn is not None and conn is not self._held():
                with conn.transaction():
                    conn.cursor().executemany(text, rows)  # type: ignore[arg-type]
            elif conn is not None:
                conn.cursor().executemany(text, rows)  # type: ignore[arg-type]
            else:
                with self._borrow() as c, c.transaction():
                    c.cursor().executemany(text, rows)  # type: ignore[arg-type]
        return Result(rowcount=len(rows))

    def write(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """One statement, committed on its own (inside an open transaction it joins it)."""
        return self.execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """``with store.transaction():`` all or nothing, and one writer at a time across every
        host (the advisory lock), as on SQLite."""
        if self._held() is not None:  # nested: join the open transaction
            yield self.db.conn
            return
        pin = getattr(self._local, "pinned", None)
        with _errors(self.url), (nullcontext(pin) if pin else self._borrow()) as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                    yield self.db.conn
            finally:
                self._local.conn = None

    # -- the contract's other parts -------------------------------------------------------------
    def write_later(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queued for the background writer (see store.db.Store.write_later)."""
        self._later.add(sql, params)

    def flush(self) -> None:
        if self._held() is None:
            self._later.flush()

    @property
    def _later(self) -> _Later:
        later = self.memo.get("later")
        if later is None:
            later = self.memo.setdefault("later", _Later(self))  # type: ignore[arg-type]
        return later  # type: ignore[no-any-return]

    def available(self) -> bool:
        """True when the server answers now."""
        try:
            self.execute("SELECT 1")
            return True
        except (StoreError, sqlite3.Error):
            return False

    def close_thread(self) -> None:
        """Nothing per thread outlives a statement or a transaction on this backend."""

    def close(self) -> None:
        try:
            self._later.stop()
        except (StoreError, sqlite3.Error) as e:
            log.error("store %s: queued rows not written at close: %s", self.path, e)
        self.pool.close()
