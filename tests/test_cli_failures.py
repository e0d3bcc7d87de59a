"""What an operator sees when the files under a command fail it: a damaged or foreign store, a
full disk, a locked store, an unreachable Redis. Each is one clear line and exit code 1, never
a traceback, and the store is left as it was. The commands run as the operator runs them: a
``newsbot`` process (a full disk is a file-size limit on that process)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from digest_support import ROOT_ENV, Rig, add_people, add_stories

from store import articles
from store.db import open_store
from tests.conftest import ROOT, free_port, write_config

SAMPLES = ROOT / "store" / "data" / "samples"


def newsbot(*args: str, fsize: int | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``newsbot ARGS``; ``fsize``: the largest file the process may write, in bytes (a
    disk that fills up), with SIGXFSZ ignored so a write past it fails as on a full disk."""

    # SIGXFSZ ignored: a write past the limit then fails as on a full disk
    start = ("import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
             + ("" if fsize is None else
                f"resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, {fsize})); ")
             + "from bot.cli import main; main()")
    return subprocess.run(
        [sys.executable, "-c", start, *args], env={**os.environ, **ROOT_ENV, **(env or {})},
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def one_clear_line(out: subprocess.CompletedProcess[str], *words: str) -> str:
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and "Error:" in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, out.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A store with the sample stories, written by the CLI."""
    db = tmp_path / "news.db"
    out = newsbot("--db", str(db), "import", str(SAMPLES))
    assert out.returncode == 0, out.stderr
    return db


def _damage_text(db: Path) -> None:
    """Break the UTF-8 of stored text in place (as a bad disk sector would)."""
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    word = "社区".encode()
    at = data.find(word)
    while at != -1:
        data[at] = 0xFF
        at = data.find(word, at + 1)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("command", [["search", "社区"], ["list"], ["digest", "preview"]])
def test_a_store_with_damaged_text(store_path: Path, command: list[str]) -> None:
    _damage_text(store_path)
    out = newsbot("--db", str(store_path), *command)
    one_clear_line(out, str(store_path), "damaged", "backup")


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "news.db"
    db.write_bytes(os.urandom(8192))
    one_clear_line(newsbot("--db", str(db), "list"), str(db), "not a database")


def test_a_database_of_another_program_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    one_clear_line(newsbot("--db", str(db), "import", str(SAMPLES)), "not a newsbot store",
                   "invoices")
    with sqlite3.connect(db) as c:
        tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["invoices"]


def test_import_on_a_full_disk(tmp_path: Path) -> None:
    db = tmp_path / "news.db"
    open_store(db).close()  # an empty store: the import is what fills the disk
    out = newsbot("--db", str(db), "import", str(SAMPLES), fsize=64 * 1024)
    one_clear_line(out, str(db), "cannot write", "disk")
    # the file it stopped at is named above, and how to finish
    assert "not saved" in out.stderr and "importing again skips them" in out.stderr, out.stderr
    store = open_store(db)  # still a sound store, with whole stories only
    try:
        for a in articles.latest(store, 50):
            assert a.title and a.body
        assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        store.close()


def test_digest_send_on_a_full_disk(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    try:
        add_stories(rig.store, 2)
        add_people(rig.store, rig.emu, 50)
        out = newsbot("--config", str(rig.config.path), "digest", "send", "--no-progress",
                      fsize=40 * 1024, env={"NEWSBOT_WECHAT_API_BASE_URL": rig.url})
        one_clear_line(out, "cannot write", "disk")
    finally:
        rig.close()


def test_a_locked_store(store_path: Path) -> None:
    holder = sqlite3.connect(store_path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        out = newsbot("--db", str(store_path), "import", str(SAMPLES / "01_liuwan_red_property.txt"))
        one_clear_line(out, str(store_path), "locked", "again")
    finally:
        holder.close()


def test_an_unreachable_redis(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    cfg = write_config(tmp_path)
    cfg.write_text(cfg.read_text().replace("[state]\n", f'[state]\nbackend = "redis"\n'
                                           f'url = "{dead}"\n', 1))
    one_clear_line(newsbot("--config", str(cfg), "stats"), "redis", "unreachable")
