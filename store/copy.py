"""Copy a whole store to another, of either backend: a SQLite file to PostgreSQL or back.

Every durable table is copied row for row with its keys, so stories keep their ids (readers
hold ``/articles/ID`` links) and digests their push logs. The search index rows are copied as
they are (no re-cutting); the top lists, a cache, are built again on the destination when
searches need them. The destination must be empty (a fresh file or database): a copy never
merges into, or overwrites, a store in use. All rows are written in one transaction, and the
rows of every table are counted on both sides at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from store.db import StoreError
from store.pg_schema import GENERATED_IDS, PRIMARY_KEYS

# in the order they are written; search_terms (PostgreSQL) follows search_docs by trigger
TABLES = ("articles", "subscribers", "digests", "push_log", "audit", "admins", "query_log",
          "reply_rules", "images", "search_docs")
META_KEPT_BY_DESTINATION = ("articles.generation", "rules.generation", "schema.readers_from")
BATCH = 1000


@dataclass
class CopyReport:
    counts: dict[str, int]  # rows per table, as found on both sides

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _count(store: Any, table: str) -> int:
    return int(store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _batches(store: Any, table: str) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
    """The table's rows in key order, a batch at a time (keyset pages: no growing offsets)."""
    keys = PRIMARY_KEYS[table]
    order = ", ".join(keys)
    last: tuple[Any, ...] | None = None
    while True:
        where = f" WHERE ({order}) > ({', '.join('?' * len(keys))})" if last else ""
        cur = store.db.execute(f"SELECT * FROM {table}{where} ORDER BY {order} LIMIT ?",
                               [*(last or ()), BATCH])
        cols = [d[0] for d in cur.description]
        rows = [tuple(r) for r in cur.fetchall()]
        if not rows:
            return
        yield cols, rows
        last = tuple(rows[-1][cols.index(k)] for k in keys)


def _check_empty(dest: Any) -> None:
    for table in TABLES:
        if _count(dest, table):
            raise StoreError(f"destination {dest.path} already holds {table}: copy into an"
                             " empty store only")


def copy(source: Any, dest: Any, progress: Callable[[int, int], None] | None = None) -> CopyReport:
    """Copy ``source`` into the empty ``dest``; ``progress(done, total)`` after each batch."""
    _check_empty(dest)
    source.flush()
    expected = {t: _count(source, t) for t in TABLES}
    total, done = sum(expected.values()), 0
    with dest.transaction():
        for table in TABLES:
            for cols, rows in _batches(source, table):
                quoted = ", ".join(f'"{c}"' for c in cols)
                dest.db.conn.executemany(
                    f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * len(cols))})", rows)
                done += len(rows)
                if progress:
                    progress(done, total)
        _copy_meta(source, dest)
        if getattr(dest, "engine", "") == "postgres":
            for table in sorted(GENERATED_IDS):  # new rows continue after the copied ids
                dest.db.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
    got = {t: _count(dest, t) for t in TABLES}
    if got != expected:
        wrong = ", ".join(f"{t} {got[t]} of {expected[t]}" for t in TABLES if got[t] != expected[t])
        raise StoreError(f"copy incomplete: {wrong}")
    return CopyReport(got)


def _copy_meta(source: Any, dest: Any) -> None:
    """Notes such as the search dictionary and the digest lease; the destination keeps its own
    counters and schema marks."""
    marks = ", ".join("?" * len(META_KEPT_BY_DESTINATION))
    for key, value in source.db.execute(
            f"SELECT key, value FROM meta WHERE key NOT IN ({marks})",
            META_KEPT_BY_DESTINATION).fetchall():
        dest.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                        " SET value = excluded.value", (key, value))
