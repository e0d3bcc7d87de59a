"""Long imports: every file is checked first, then each is saved in a transaction of its own.
A file is saved whole or not at all, a rerun finishes an interrupted import, and the webhook
keeps answering (an admin's edit included) while an import of many files runs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from test_multiprocess import BotProcess, post

from bot.callback import message_xml
from bot.cli import main
from bot.config import load_config
from store import articles
from store.articles import Article
from store.db import open_store
from tests.conftest import write_config

NEWSBOT = [sys.executable, "-c", "from bot.cli import main; main()"]
ADMIN = "o_admin_1"


# Stories of one file must read as different stories (an import takes a story of the same
# source whose text is mostly the same for an edited version of it).
BODIES = (
    ["网格员上门了解独居老人的需求，记下要办的事，第二天就有回音。", "老人们说，有事找网格员，心里踏实。"],
    ["社区食堂开到了家门口，午餐十元两荤一素，志愿者帮行动不便的老人送餐上门。"],
    ["党支部组织党员重温入党誓词，又到敬老院打扫卫生、陪老人聊天。", "活动结束后大家交流了体会。"],
    ["小区加装电梯的事终于定了下来：业主们开了三次协调会，一楼住户也签了字。"],
)


def write_exports(folder: Path, files: int, per_file: int) -> Path:
    """``files`` exports (``newsbot export``'s format) of ``per_file`` stories each, written for
    these tests; every story's source names its file."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        lines = [
            json.dumps({
                "title": f"第{i}片区纪事之{j}", "source": f"page-{i:03d}",
                "body": [*BODIES[j % len(BODIES)], f"（第{i}片区第{j}篇）"],
            }, ensure_ascii=False)
            for j in range(per_file)
        ]
        (folder / f"page-{i:03d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def by_file(db: Path) -> dict[str, int]:
    """How many stories of each file the store holds."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT source, COUNT(*) FROM articles GROUP BY source").fetchall()
    return {s: int(n) for s, n in rows if s.startswith("page-")}


def test_a_file_that_cannot_be_saved_is_not_half_saved_and_a_rerun_finishes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "news.db"
    pages = write_exports(tmp_path / "pages", 3, 3)
    open_store(db).close()
    # The store refuses the second story of the second file, as a full disk would refuse it.
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.title = '第1片区纪事之1'"
            " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    r = CliRunner().invoke(main, ["--db", str(db), "import", str(pages)])
    assert r.exit_code == 1
    assert "page-001.jsonl: not saved; the 1 file(s) before it are saved" in r.output
    assert "importing again skips them" in r.output and "cannot write (disk full)" in r.output
    assert "Traceback" not in r.output
    assert by_file(db) == {"page-000": 3}  # the second file: none of it, not its first story

    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER refuse")
    r = CliRunner().invoke(main, ["--db", str(db), "import", str(pages)])
    assert r.exit_code == 0, r.output
    assert "3 pages, 6 stories added, 0 updated, 3 skipped as duplicates" in r.output
    assert by_file(db) == {"page-000": 3, "page-001": 3, "page-002": 3}


def test_an_import_killed_midway_leaves_whole_files_and_a_rerun_completes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "news.db"
    pages = write_exports(tmp_path / "pages", 60, 4)
    open_store(db).close()
    proc = subprocess.Popen(
        [*NEWSBOT, "--db", str(db), "import", str(pages)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while sum(by_file(db).values()) < 20 and proc.poll() is None:
            assert time.monotonic() < deadline, "the import saved nothing"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, "the import finished before it could be killed"
    saved = by_file(db)
    assert 0 < len(saved) < 60
    assert set(saved.values()) == {4}  # every file whole, none in part

    r = CliRunner().invoke(main, ["--db", str(db), "import", str(pages)])
    assert r.exit_code == 0, r.output
    left = 4 * (60 - len(saved))
    assert f"60 pages, {left} stories added, 0 updated, {240 - left} skipped" in r.output
    assert by_file(db) == {f"page-{i:03d}": 4 for i in range(60)}


def test_an_admin_edit_during_a_long_import_is_answered_and_saved(tmp_path: Path) -> None:
    # A budget long enough for a loaded machine: what is checked is that the edit is made
    # while the import runs (the waits themselves are bench/import_bench.py's business).
    path = write_config(tmp_path, f'[admin]\nopenids = ["{ADMIN}"]\n'
                                  "[server]\nreply_budget = 15.0\n")
    cfg = load_config(path, env={})
    db = cfg.resolve(cfg.store["path"])
    store = open_store(db)
    aid, _ = articles.save(store, Article(title="旧标题", body=["社区新开了食堂。"], source="测试"))
    store.close()
    pages = write_exports(tmp_path / "pages", 80, 4)
    bot = BotProcess(path)
    importer: subprocess.Popen[bytes] | None = None
    try:
        bot.wait_ready()
        # the bot's first edit loads its text models: done before the import starts
        assert "《热身》" in post(cfg, bot.url, message_xml(user=ADMIN, text=f"#改标题 {aid} 热身")).text
        importer = subprocess.Popen(
            [*NEWSBOT, "--config", str(path), "import", str(pages)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")},
        )
        deadline = time.monotonic() + 120
        while not by_file(db) and importer.poll() is None:  # its first file is in
            assert time.monotonic() < deadline
            time.sleep(0.01)
        replies = []
        for n in range(3):
            assert importer.poll() is None, "the import ended before the edit was sent"
            text = f"#改标题 {aid} 新标题{n}"
            replies.append(post(cfg, bot.url, message_xml(user=ADMIN, text=text)))
        sub = post(cfg, bot.url, message_xml(user="o_reader_1", text="订阅 社区"))
        during = len(by_file(db))  # files in when the messages had been answered
        importer.wait(300)
    finally:
        if importer is not None and importer.poll() is None:
            importer.kill()
            importer.wait(10)
        bot.stop()
    for n, r in enumerate(replies):
        assert r.kind == "text" and f"《新标题{n}》" in r.text, r.render()
    assert sub.kind == "text" and "社区" in sub.text
    assert "系统开小差" not in bot.output() and "Traceback" not in bot.output()
    assert importer.returncode == 0
    assert during < 80, "the messages were answered only once the whole import was in"
    store = open_store(db)
    try:
        assert articles.require(store, aid).title == "新标题2"
        assert articles.count(store) == 1 + 320
    finally:
        store.close()
