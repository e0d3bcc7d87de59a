"""The store file: migrations (old files upgraded, newer files refused), WAL, and the article
rules of identity (same text = same story; same source and title = the same story, edited)."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils
from click.testing import CliRunner

from bot.cli import main
from store import articles
from store.articles import Article
from store.db import MIGRATIONS, StoreError, migrate, open_store, schema_version


def test_fresh_store_is_at_the_newest_version_in_wal_mode(tmp_path):
    store = open_store(tmp_path / "s.db")
    assert schema_version(store.db) == len(MIGRATIONS)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    store.close()


def test_old_file_is_upgraded_and_keeps_its_stories(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    db["schema_version"].create({"version": int, "applied_at": str}, pk="version")
    MIGRATIONS[0](db)  # a file written when the schema had only its first version
    db["schema_version"].insert({"version": 1, "applied_at": "2024-01-01T00:00:00+00:00"})
    db["articles"].insert({"title": "旧稿件", "body": '["社区党支部开展主题党日活动。"]',
                           "added_at": "2024-01-01", "updated_at": "2024-01-01",
                           "content_hash": "h1", "story_key": "k1"})
    db.conn.close()
    store = open_store(path)
    assert schema_version(store.db) == len(MIGRATIONS)
    a = articles.get(store, 1)
    assert a is not None and a.title == "旧稿件" and a.body == ["社区党支部开展主题党日活动。"]
    store.close()


def test_newer_file_marked_incompatible_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "new.db"
    store = open_store(path)
    store.db["schema_version"].insert({"version": len(MIGRATIONS) + 1, "applied_at": "x"})
    store.db.execute("UPDATE meta SET value = ? WHERE key = 'schema.readers_from'",
                     (str(len(MIGRATIONS) + 1),))
    store.close()
    with pytest.raises(StoreError, match="newer than this newsbot"):
        open_store(path)
    r = CliRunner().invoke(main, ["--db", str(path), "list"])
    assert r.exit_code == 1 and "upgrade newsbot" in r.output and "Traceback" not in r.output


def test_not_a_store_is_refused(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        open_store(path)


def test_migrate_is_idempotent(tmp_path):
    store = open_store(tmp_path / "s.db")
    assert migrate(store.db) == len(MIGRATIONS)
    assert migrate(store.db) == len(MIGRATIONS)
    store.close()


def test_same_text_is_unchanged_edited_text_updates_in_place(tmp_path):
    store = open_store(tmp_path / "s.db")
    a = Article(title="社区食堂开张", body=["银杏社区党支部牵头开办的社区食堂今天开张。"], source="p.txt")
    first, outcome = articles.save(store, a)
    assert outcome == "added"
    again = Article(title="社区食堂开张", body=["银杏社区党支部牵头开办的社区食堂今天开张。"], source="p.txt")
    assert articles.save(store, again) == (first, "unchanged")
    articles.update(store, first, category_override=["社区"])
    edited = Article(title="社区食堂开张", body=["银杏社区党支部牵头开办的社区食堂昨天开张。"], source="p.txt")
    assert articles.save(store, edited) == (first, "updated")
    stored = articles.require(store, first)
    assert stored.body == edited.body
    assert stored.category_override == ["社区"]  # an admin's choice survives a re-import
    assert articles.count(store) == 1
    store.close()


def test_demo_samples_fill_an_empty_store_only(tmp_path):
    from store.samples import import_samples_if_empty

    store = open_store(tmp_path / "s.db")
    added = import_samples_if_empty(store)
    assert 12 <= added <= 20 and articles.count(store) == added
    assert all(a.summary and a.categories for a in articles.every(store))
    assert import_samples_if_empty(store) == 0
    assert articles.count(store) == added
    store.close()


def test_processes_opening_a_new_file_at_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Switching a new file to WAL needs it alone; two processes starting together must both
    come up (the state file and the store alike), not fail with "database is locked"."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from bot.state.sqlite import SQLiteState\n"
        "from store.db import open_store\n"
        "SQLiteState(sys.argv[1] + '.state').set('k', 'v')\n"
        "open_store(sys.argv[1] + '.db')\n"
    )
    for i in range(6):
        base = str(tmp_path / f"f{i}")
        procs = [
            subprocess.Popen([sys.executable, "-c", script, base], stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        errs = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], errs
