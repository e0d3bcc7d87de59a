"""The SQLite store: connection set-up, schema and migrations.

Migrations are plain functions in ``MIGRATIONS``; the store's version is the number applied,
kept in the ``schema_version`` table. Opening an older file upgrades it in one transaction;
opening a file written by a newer newsbot is refused. Append new migrations, never edit old ones.
"""

from __future__ import annotations

import itertools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from store import search_lists

log = logging.getLogger("newsbot.store")


class StoreError(Exception):
    """The store cannot be opened or used as asked; the message says why."""


class StoreUnavailable(StoreError, sqlite3.OperationalError):
    """The store's server cannot be reached now (down, restarting, failing over): try again
    in a moment. Only the PostgreSQL store raises it; it is also an OperationalError, so code
    that already handles a busy SQLite file handles it too."""


_second: tuple[int, str] = (-1, "")  # the last second now_iso wrote, and how


def now_iso() -> str:
    """The current UTC time to the second, ISO 8601 (made once a second: a query-log row per
    message asks for it)."""
    global _second
    whole = int(time.time())
    if _second[0] != whole:
        _second = (whole, datetime.fromtimestamp(whole, UTC).isoformat(timespec="seconds"))
    return _second[1]


def _v1(db: sqlite_utils.Database) -> None:
    db["articles"].create(
        {
            "id": int,
            "title": str,
            "subtitle": str,
            "kicker": str,
            "authors": str,  # JSON list of names
            "body": str,  # JSON list of paragraphs
            "captions": str,  # JSON list of captions
            "categories": str,  # JSON list: 党建, 社区
            "category_override": str,  # JSON list set by an admin; wins over the model
            "source": str,
            "url": str,
            "picurl": str,
            "published": str,
            "added_at": str,
            "updated_at": str,
            "content_hash": str,
            "story_key": str,  # source + title: a re-imported, edited story updates this row
            "summary": str,  # ~100 characters, for a news card
            "summary_long": str,  # ~250 characters, for a text reply
        },
        pk="id",
        not_null={"title", "added_at", "updated_at", "content_hash"},
        defaults={"authors": "[]", "body": "[]", "captions": "[]", "categories": "[]"},
    )
    db["articles"].create_index(["content_hash"], unique=True)
    db["articles"].create_index(["story_key"])
    db["articles"].create_index(["added_at"])
    db["subscribers"].create(
        {
            "openid": str,
            "categories": str,  # JSON list of categories the user receives
            "following": int,  # 0 after the unsubscribe event
            "subscribed_at": str,
            "updated_at": str,
            "last_seen": float,  # unix time of the user's last message (48 h window)
        },
        pk="openid",
        defaults={"categories": "[]", "following": 1},
    )
    db["digests"].create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "status": str,  # running, done, empty, failed
            "channel": str,
            "since": str,
            "article_ids": str,  # JSON
            "report": str,  # JSON
        },
        pk="id",
    )
    db["push_log"].create(
        {"digest_id": int, "openid": str, "status": str, "reason": str, "at": str},
        pk=("digest_id", "openid"),
    )
    db["audit"].create(
        {
            "id": int,
            "at": str,
            "admin": str,
            "action": str,
            "article_id": int,
            "before": str,
            "after": str,
        },
        pk="id",
    )
    db["admins"].create({"openid": str, "added_at": str, "added_by": str}, pk="openid")
    db["query_log"].create(
        {"id": int, "at": str, "user": str, "query": str, "hits": int}, pk="id"
    )
    db["query_log"].create_index(["at"])
    db["meta"].create({"key": str, "value": str}, pk="key")


def _digest_push_log(db: sqlite_utils.Database) -> None:
    """Digest resume: the scheduled slot (one digest per slot), and per-delivery plan data."""
    db["digests"].add_column("slot", str)  # local date of a scheduled run; NULL for manual runs
    db.execute("CREATE UNIQUE INDEX idx_digests_slot ON digests(slot) WHERE slot IS NOT NULL")
    db["push_log"].add_column("categories", str)  # JSON: what this recipient gets
    db["push_log"].add_column("attempts", int, not_null_default=0)
    db["push_log"].add_column("clientmsgid", str)  # idempotency key sent with the message
    db["push_log"].create_index(["digest_id", "status"])


def _search_index(db: sqlite_utils.Database) -> None:
    """The search index (store/search_index.py); stories already stored are indexed now."""
    # imported here: store.search_index imports this module (and loads jieba)
    from store.search_index import build_from_row, create_tables

    create_tables(db)
    for row in db["articles"].rows:
        db["search_docs"].insert(build_from_row(row).row(), pk="article_id")


def _search_top_lists(db: sqlite_utils.Database) -> None:
    """Search: document counts per word (fts5vocab) and the common words' top lists."""
    db.execute("CREATE VIRTUAL TABLE search_docs_vocab USING fts5vocab(search_docs_fts, 'row')")
    search_lists.create_tables(db)


def _search_doc_freq(db: sqlite_utils.Database) -> None:
    """Search: each common word's story count, kept with its top list (counting is slow)."""
    db["search_hot"].add_column("df", int, not_null_default=0)
    db.execute("DELETE FROM search_top")
    db.execute("DELETE FROM search_hot")  # lists are built again, with their counts


def _articles_generation(db: sqlite_utils.Database) -> None:
    """A counter that moves on every write to the stories (and on a reindex, which records its
    dictionary in meta), in whichever process: caches of search pages key on it."""
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('articles.generation', '0')")
    bump = ("UPDATE meta SET value = CAST(value AS INTEGER) + 1"
            " WHERE key = 'articles.generation';")
    for event in ("INSERT", "UPDATE", "DELETE"):
        db.execute(f"CREATE TRIGGER articles_generation_{event.lower()} AFTER {event} ON articles"
                   f" BEGIN {bump} END")
    db.execute("CREATE TRIGGER articles_generation_reindex AFTER INSERT ON meta"
               f" WHEN NEW.key = 'search.dictionary' BEGIN {bump} END")


def _reply_rules(db: sqlite_utils.Database) -> None:
    """Auto-replies as WeChat's console has them (store/rules.py): keyword rules, the welcome,
    the default reply and the console menu's buttons; a generation counter for their caches."""
    db["reply_rules"].create(
        {
            "id": int,
            "kind": str,  # keyword, welcome, default, menu
            "name": str,
            "reply_mode": str,  # all, random
            "keywords": str,  # JSON list of {"text", "match": "equal" | "contain"}
            "replies": str,  # JSON list of {"type": "text" | "image" | "news", ...}
            "menu_key": str,  # the click key a console menu button was given
            "origin": str,  # console (imported), cli:<user>, or an admin's openid
            "added_at": str,
        },
        pk="id",
        not_null={"kind", "keywords", "replies", "added_at"},
        defaults={"keywords": "[]", "replies": "[]", "reply_mode": "all"},
    )
    db["reply_rules"].create_index(["kind"])
    db.execute("INSERT INTO meta (key, value) VALUES ('rules.generation', '0')")


def _editors_work(db: sqlite_utils.Database) -> None:
    """Editors' work: which fields of a story an editor changed (an import keeps them), the
    pictures an admin set as covers, and lookups by source and address for a story's identity.
    Addresses that are not http(s) are dropped: they were never safe to send out."""
    db.execute("ALTER TABLE articles ADD COLUMN edited TEXT NOT NULL DEFAULT '[]'")
    db.execute("CREATE INDEX idx_articles_source ON articles(source)")
    db.execute("CREATE INDEX idx_articles_url ON articles(url)")
    db.execute(
        "CREATE TABLE images (id INTEGER PRIMARY KEY, article_id INTEGER, content_type TEXT"
        " NOT NULL, data BLOB NOT NULL, sha256 TEXT NOT NULL, added_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX idx_images_article ON images(article_id)")
    web = "(lower({0}) LIKE 'http://%' OR lower({0}) LIKE 'https://%')"
    db.execute(f"UPDATE articles SET url = NULL WHERE url IS NOT NULL AND NOT {web.format('url')}")
    db.execute(f"UPDATE articles SET picurl = '' WHERE picurl IS NOT NULL AND picurl != ''"
               f" AND NOT {web.format('picurl')}")


def _publication(db: sqlite_utils.Database) -> None:
    """The name a reader knows a story's source by (the paper's masthead, a site's name)."""
    db.execute("ALTER TABLE articles ADD COLUMN publication TEXT NOT NULL DEFAULT ''")


def _search_match(db: sqlite_utils.Database) -> None:
    """PostgreSQL's index for matching several words at once (store/pg_schema.py); FTS5
    already matches them here, so SQLite's schema only keeps the version in step."""


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1, _digest_push_log, _search_index, _search_top_lists, _search_doc_freq,
    _articles_generation, _reply_rules, _editors_work, _publication, _search_match,
]


# Versions after which an older newsbot can no longer use the store; every other migration is
# additive (new tables, new columns with defaults), so the previous release keeps serving on the
# new schema while a deploy rolls. The store records the oldest version that may still use it.
BREAKING: frozenset[int] = frozenset()
READERS_KEY = "schema.readers_from"


def readers_from(target: int) -> int:
    """The oldest schema version whose newsbot can still use a store at ``target``."""
    return max((v for v in BREAKING if v <= target), default=1)


def _check_newer(db: sqlite_utils.Database, current: int, target: int,
                 path: str | os.PathLike[str]) -> None:
    """A store newer than this newsbot: used as it is unless marked incompatible with it (a
    store without the mark is refused)."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (READERS_KEY,)).fetchone()
    oldest = int(row[0]) if row and str(row[0]).isdigit() else current
    if oldest > target:
        raise StoreError(
            f"{path or 'store'} has schema version {current}, newer than this newsbot "
            f"understands ({target}); upgrade newsbot to open it"
        )
    log.info("store %s: schema %d is newer than this newsbot's %d and marked compatible;"
             " serving on it", path or "store", current, target)


def schema_version(db: sqlite_utils.Database) -> int:
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: sqlite_utils.Database, path: str | os.PathLike[str] = "") -> int:
    """Bring ``db`` to the newest schema; returns the version. A file of another program (its
    own tables, none of ours) is refused rather than given our tables beside its own."""
    current = schema_version(db)
    if current == 0:
        foreign = [t for t in db.table_names() if not t.startswith("sqlite_")]
        if foreign:
            raise StoreError(
                f"{path or 'store'} is not a newsbot store: it holds other tables"
                f" ({', '.join(sorted(foreign)[:3])}); give the path of a newsbot store"
                " or of a new file"
            )
    target = len(MIGRATIONS)
    if current > target:
        _check_newer(db, current, target, path)
        return current
    if current == target:
        return current
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(db)  # another process may have migrated meanwhile
        if not db["schema_version"].exists():
            db["schema_version"].create({"version": int, "applied_at": str}, pk="version")
        for version in range(current + 1, target + 1):
            MIGRATIONS[version - 1](db)
            db["schema_version"].insert({"version": version, "applied_at": now_iso()})
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                   " SET value = excluded.value", (READERS_KEY, str(readers_from(target))))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # not when SQLite ended it itself (a full disk)
            conn.execute("ROLLBACK")
        raise
    return target


def enable_wal(conn: sqlite3.Connection, attempts: int = 50) -> None:
    """Switch ``conn`` to WAL. Two processes opening a new file at once can make the switch
    fail with "database is locked" without SQLite's busy handler ever waiting (the mode change
    needs the file to itself), so it is retried here for up to about five seconds."""
    for i in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or i == attempts - 1:
                raise
            time.sleep(0.1)


def connect(path: str | os.PathLike[str]) -> sqlite_utils.Database:
    """A connection with the store's pragmas: WAL, a busy timeout, NORMAL sync."""
    try:
        conn = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=10000")
        enable_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as e:
        raise StoreError(f"cannot open store {path}: {e}") from None
    return sqlite_utils.Database(conn)


class Store:
    """The article store at ``path``: one connection per thread, migrated on open.

    Writers of one process take turns on a lock before they ask SQLite for its write lock
    (``transaction()`` and ``write()``): two connections that collide inside SQLite wait in its
    busy handler, which sleeps in steps of milliseconds, while a lock wakes the next writer at
    once. Other processes still meet through SQLite's own locking (``busy_timeout``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            raise StoreError(f"folder of store {self.path} does not exist")
        self._local = threading.local()
        self._wlock = threading.RLock()
        # Process-local notes of store modules (e.g. subscribers' recent touches); they live
        # and die with this Store, so two stores (or two tests) never share them.
        self.memo: dict[str, Any] = {}
        try:
            migrate(self.db, self.path)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is not a newsbot store: {e}") from None

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
        return db

    def transaction(self) -> _Transaction:
        """``with store.transaction():`` all or nothing, across the tables."""
        return _Transaction(self.db.conn, self._wlock)

    def write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One statement in its own transaction, in turn with this process's other writers
        (inside an open transaction it simply joins it)."""
        conn = self.db.conn
        if conn.in_transaction:
            return conn.execute(sql, params)
        _take_turn(conn, self._wlock)
        try:
            return conn.execute(sql, params)
        finally:
            self._wlock.release()

    def write_later(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue one statement for the store's background writer, which lands what is queued
        every :data:`LATER_EVERY` seconds in one transaction (and on :meth:`flush` and
        :meth:`close`). For rows a crash may lose, such as statistics: the caller never
        waits for the disk or another writer."""
        self._later.add(sql, params)

    def flush(self) -> None:
        """Land what :meth:`write_later` queued, now, in the caller's thread (not inside the
        caller's open transaction, whose rollback would take the rows with it)."""
        if not self.db.conn.in_transaction:
            self._later.flush()

    def available(self) -> bool:
        """True when the store answers now (a file store always does once opened)."""
        try:
            self.db.execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Run a store operation's statements on one connection (the PostgreSQL store's
        contract); a file store's thread always has its own, so there is nothing to do."""
        yield

    def close_thread(self) -> None:
        """Close the calling thread's connection (a thread that is about to end)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

    def close(self) -> None:
        self._later.stop()
        self.close_thread()

    @property
    def _later(self) -> _Later:
        later = self.memo.get("later")
        if later is None:
            later = self.memo.setdefault("later", _Later(self))
        return later  # type: ignore[no-any-return]


LATER_EVERY = 0.25  # seconds between landings of Store.write_later's queue
LATER_MAX = 10_000  # statements kept at most while the store cannot be written


class _Later:
    """The queue behind ``Store.write_later`` and the daemon thread that lands it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._rows: list[tuple[str, Sequence[Any]]] = []
        self._lock = threading.Lock()
        self._land = threading.Lock()  # one landing at a time, in order
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, sql: str, params: Sequence[Any]) -> None:
        with self._lock:
            if len(self._rows) >= LATER_MAX:
                log.warning("store %s: write queue full, a row is dropped", self.store.path)
                return
            self._rows.append((sql, params))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, args=(self._wake,), name="store-later", daemon=True
                )
                self._thread.start()

    def _run(self, wake: threading.Event) -> None:
        while not wake.wait(LATER_EVERY):
            self.flush()
        self.store.close_thread()

    def flush(self) -> None:
        with self._land:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return
            try:
                with self.store.transaction() as conn:
                    # a run of the same statement goes as one executemany (on PostgreSQL, one
                    # pipeline instead of a round trip a row); the rows keep their order
                    for sql, run in itertools.groupby(rows, key=lambda row: row[0]):
                        conn.executemany(sql, [params for _, params in run])
                return
            except sqlite3.Error as e:
                failure = e
            # one bad row must not cost the others: each on its own, the bad ones logged
            lost = 0
            for sql, params in rows:
                try:
                    self.store.write(sql, params)
                except sqlite3.Error:
                    lost += 1
            if lost:
                log.error("store %s: %d of %d queued rows not written: %s",
                          self.store.path, lost, len(rows), failure)

    def stop(self) -> None:
        """Stop the thread and land the rest; a later ``add`` starts a new thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            wake, self._wake = self._wake, threading.Event()
        if thread is not None:
            wake.set()
            thread.join(timeout=10)
        self.flush()


def _take_turn(conn: sqlite3.Connection, lock: threading.RLock) -> None:
    """Wait for this process's write turn no longer than the connection would wait for SQLite
    (its ``busy_timeout``, which a caller may have shortened), then fail as SQLite would."""
    if lock.acquire(blocking=False):
        return
    wait_ms = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    if not lock.acquire(timeout=max(int(wait_ms), 0) / 1000):
        raise sqlite3.OperationalError("database is locked (another writer of this process)")


class _Transaction:
    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self.conn = conn
        self.lock = lock
        self.outer = False

    def __enter__(self) -> sqlite3.Connection:
        self.outer = not self.conn.in_transaction
        if self.outer:
            _take_turn(self.conn, self.lock)
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.lock.release()
                raise
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        if self.outer:
            try:
                if not exc_type:
                    self.conn.execute("COMMIT")
                elif self.conn.in_transaction:
                    # SQLite may have rolled back already (a full disk): then the error that
                    # did it is the one to report, not "no transaction is active"
                    self.conn.execute("ROLLBACK")
            finally:
                self.lock.release()


def open_store(path: str | os.PathLike[str], pool_size: int = 4,
               connect_timeout: float = 3.0, prepare: bool = True) -> Any:
    """The store at ``path``: a SQLite file, or a PostgreSQL database when ``path`` is a
    ``postgresql://`` URL (both keep the same contract; ``pool_size``, ``connect_timeout``
    and ``prepare`` concern PostgreSQL alone)."""
    if is_url(path):
        from store.pg import PgStore  # here: store.pg imports this module

        return PgStore(str(path), pool_size=pool_size, connect_timeout=connect_timeout,
                       prepare=prepare)
    return Store(path)


def is_url(path: str | os.PathLike[str]) -> bool:
    return str(path).startswith(("postgresql://", "postgres://"))


def open_configured(config: Any, where: str | None = None) -> Any:
    """The store ``[store]`` of ``config`` names (``backend`` picks the file or the server), or
    the one at ``where`` (a file or a PostgreSQL URL) with the section's connection settings."""
    st = config.store
    if where is None:
        where = st["url"] if st.get("backend", "sqlite") == "postgres" else str(
            config.resolve(st["path"]))
    if is_url(where):
        return open_store(where, pool_size=int(st["pool_size"]),
                          connect_timeout=float(st["connect_timeout"]),
                          prepare=bool(st["prepared_statements"]))
    return open_store(where)
