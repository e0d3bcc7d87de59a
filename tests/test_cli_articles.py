"""The operators' story commands, through click's CliRunner against a fresh store per test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from store import articles
from store.db import open_store

PAGES = Path(__file__).parent / "data" / "pages"
PAGE_A = PAGES / "a_banner_sections.txt"
PAGE_B = PAGES / "b_bylines.txt"

CONTENT = ("title", "subtitle", "kicker", "authors", "body", "captions", "categories",
           "category_override", "source", "url", "published", "summary", "summary_long",
           "content_hash", "story_key", "added_at")


def run(db: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(main, ["--db", str(db), *args], input=input)


def stored(db: Path) -> list[articles.Article]:
    store = open_store(db)
    try:
        return list(articles.every(store))
    finally:
        store.close()


def test_import_reports_and_reimport_adds_nothing(tmp_path):
    db = tmp_path / "news.db"
    r = run(db, "import", str(PAGE_A), str(PAGE_B))
    assert r.exit_code == 0, r.output
    assert "2 pages, 4 stories added, 0 updated, 0 skipped as duplicates" in r.output
    r = run(db, "import", str(PAGES))  # a folder: the same two pages and two more
    assert r.exit_code == 0, r.output
    assert "4 pages, 4 stories added, 0 updated, 4 skipped as duplicates" in r.output
    assert len(stored(db)) == 8


def test_edited_page_reimported_updates_the_story(tmp_path):
    db = tmp_path / "news.db"
    page = tmp_path / "page.txt"
    page.write_text(PAGE_B.read_text(encoding="utf-8"), encoding="utf-8")
    assert run(db, "import", str(page)).exit_code == 0
    before = {a.title: a for a in stored(db)}
    text = page.read_text(encoding="utf-8").replace("被评为全市优秀网格员。", "今年被评为全省优秀网格员。")
    page.write_text(text, encoding="utf-8")
    r = run(db, "import", str(page))
    assert r.exit_code == 0, r.output
    assert "1 page, 0 stories added, 1 updated, 2 skipped as duplicates" in r.output
    after = {a.title: a for a in stored(db)}
    assert len(after) == 3
    story = after["把群众的小事当成自己的大事"]
    assert story.id == before[story.title].id
    assert "今年被评为全省优秀网格员。" in story.body[-1]


def test_export_then_import_into_a_fresh_store_gives_the_same_stories(tmp_path):
    db, copy = tmp_path / "a.db", tmp_path / "b.db"
    assert run(db, "import", str(PAGES)).exit_code == 0
    assert run(db, "edit", "1", "--category", "社区").exit_code == 0
    r = run(db, "export")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert len(lines) == 8
    first = json.loads(lines[0])
    assert set(CONTENT) <= set(first) and first["body"] and first["authors"]
    out = tmp_path / "stories.jsonl"
    assert run(db, "export", "-o", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8").splitlines() == lines
    r = run(copy, "import", str(out))
    assert r.exit_code == 0, r.output
    assert "8 stories added" in r.output
    a = [{k: getattr(x, k) for k in CONTENT} for x in stored(db)]
    b = [{k: getattr(x, k) for k in CONTENT} for x in stored(copy)]
    assert a == b
    assert b[0]["category_override"] == ["社区"]
    assert "8 skipped as duplicates" in run(copy, "import", str(out)).output


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("empty.txt", b"", "empty"),
        ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        ("gbk.txt", PAGE_A.read_text(encoding="utf-8").encode("gb18030"), "GBK"),
        ("huge.txt", ("社区党建。" * 140_000).encode("utf-8"), "too large"),
        ("bad.jsonl", b'{"title": "x", "body": [1\n', "not JSON"),
    ],
)
def test_bad_file_gets_a_clear_message_and_writes_nothing(tmp_path, name, data, message):
    db = tmp_path / "news.db"
    f = tmp_path / name
    f.write_bytes(data)
    r = run(db, "import", str(f))
    assert r.exit_code == 1
    assert message in r.output and name in r.output
    assert "Traceback" not in r.output
    assert stored(db) == []


def test_good_files_imported_bad_ones_reported(tmp_path):
    db = tmp_path / "news.db"
    bad = tmp_path / "gbk.txt"
    bad.write_bytes("社区".encode("gbk") * 10)
    r = run(db, "import", str(PAGE_A), str(bad))
    assert r.exit_code == 1
    assert "1 page, 1 stories added" in r.output and "gbk.txt" in r.output
    assert len(stored(db)) == 1
    r = run(tmp_path / "strict.db", "import", "--strict", str(PAGE_A), str(bad))
    assert r.exit_code == 1 and "nothing imported" in r.output
    assert stored(tmp_path / "strict.db") == []


def test_html_file_is_imported_as_one_story(tmp_path):
    db = tmp_path / "news.db"
    html = tmp_path / "story.html"
    html.write_text(
        "<html><head><title>柳湾区新闻网</title><meta name='date' content='2024-06-30'></head>"
        "<body><nav>首页 | 党建 | 社区</nav><article><h1>银杏社区开办“四点半课堂”</h1>"
        "<p>本报讯（记者 沈佳）暑假开始后，柳湾区东关街道银杏社区开办“四点半课堂”，由社区党员"
        "志愿者和大学生轮流为辖区50余名孩子辅导作业、讲授安全知识。</p>"
        "<p>社区党支部书记唐红梅介绍，课堂每天下午开放三个小时，家长下班后再来接孩子，解决了"
        "双职工家庭的后顾之忧。</p></article><footer>版权所有</footer></body></html>",
        encoding="utf-8",
    )
    r = run(db, "import", str(html))
    assert r.exit_code == 0, r.output
    [a] = stored(db)
    assert a.title == "银杏社区开办“四点半课堂”"
    assert a.authors == ["沈佳"]
    assert a.body[0].startswith("暑假开始后") and len(a.body) == 2
    assert a.published == "2024-06-30"
    assert "社区" in a.categories


def test_list_show_edit_delete(tmp_path):
    db = tmp_path / "news.db"
    assert run(db, "import", str(PAGE_B)).exit_code == 0
    r = run(db, "list", "--limit", "2")
    assert r.exit_code == 0 and len(r.output.splitlines()) == 2
    r = run(db, "show", "1")
    assert "把群众的小事当成自己的大事" in r.output and "孔令军" in r.output
    assert json.loads(run(db, "show", "1", "--json").output)["authors"] == ["孔令军", "沈佳", "宋文博"]
    r = run(db, "edit", "1", "--title", "网格员郑秀梅", "--category", "无", "--url", "https://example.org/1")
    assert r.exit_code == 0, r.output
    a = stored(db)[0]
    assert (a.title, a.category_override, a.url) == ("网格员郑秀梅", [], "https://example.org/1")
    assert "1" not in [line.split("\t")[0] for line in run(db, "list", "--category", "社区").output.splitlines()]
    assert run(db, "edit", "1", "--category", "无", "--category", "党建").exit_code == 2
    assert run(db, "edit", "1").exit_code == 1
    r = run(db, "edit", "1", "--url", "example.org/1")  # not a web address: nothing changes
    assert r.exit_code == 2 and "is not a web address" in r.output
    assert stored(db)[0].url == "https://example.org/1"
    assert run(db, "edit", "1", "--url", "").exit_code == 0 and stored(db)[0].url is None
    before = stored(db)[0].summary
    assert run(db, "edit", "1", "--summary", "一句话").exit_code == 0
    assert stored(db)[0].summary == "一句话"
    assert run(db, "edit", "1", "--summary", "").exit_code == 0  # made from the text again
    assert stored(db)[0].summary == before
    r = run(db, "delete", "2", input="n\n")
    assert r.exit_code == 1 and len(stored(db)) == 3
    r = run(db, "delete", "2", "--yes")
    assert r.exit_code == 0 and len(stored(db)) == 2
    r = run(db, "show", "2")
    assert r.exit_code == 1 and "no story with id 2" in r.output
    # the operator's changes are in the audit log, as the admins' are
    from store.audit import entries
    from store.db import open_store

    log = entries(open_store(db))
    assert [e.action for e in log][:2] == ["delete", "edit"]
    assert all(e.admin.startswith("cli") for e in log)
    assert log[0].article_id == 2 and log[0].before["body"]  # the deleted story, whole
    retitled = [e for e in log if e.action == "edit"][-1]
    assert retitled.before["title"] != "网格员郑秀梅" and retitled.before["url"] is None
    assert retitled.after["title"] == "网格员郑秀梅" and retitled.after["url"] == "https://example.org/1"
    # the page's three stories imported, four edits that changed something, one deletion
    assert [e.action for e in log].count("import") == 3 and len(log) == 8
    assert "delete" in run(db, "audit", "--limit", "1").output


def test_db_option_picks_the_store(tmp_path):
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    assert run(one, "import", str(PAGE_A)).exit_code == 0
    assert len(stored(one)) == 1
    assert not two.exists() or stored(two) == []
    assert run(two, "list").output.strip() == "no stories"
