"""``newsbot store copy``: a whole store to PostgreSQL and back, ids kept, counts checked."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from store import admins, articles, pushlog, search, subscribers
from store.db import open_store
from store.pushlog import Delivery
from store.samples import import_samples_if_empty


def _fill(path: Path) -> list[int]:
    s = open_store(path)
    try:
        import_samples_if_empty(s)
        ids = [a.id for a in articles.every(s)]
        articles.delete(s, ids[1])  # a gap: ids are kept, not renumbered
        subscribers.subscribe(s, "o_reader", ["社区"])
        admins.add(s, "o_admin", by="cli")
        pushlog.start(s, channel="customer_service", since=None, article_ids=ids[:2],
                      recipients=[Delivery("o_reader", ["社区"])], slot="2026-12-06")
        return [a.id for a in articles.every(s)]  # type: ignore[misc]
    finally:
        s.close()


def test_a_store_goes_to_postgres_and_back_with_its_ids(tmp_path: Path, pg_url: str) -> None:
    src = tmp_path / "src.db"
    ids = _fill(src)
    r = CliRunner().invoke(main, ["--db", str(src), "store", "copy", "--to", pg_url])
    assert r.exit_code == 0, r.output
    assert f"articles {len(ids)}" in r.output and "subscribers 1" in r.output

    pg = open_store(pg_url)
    lite = open_store(src)
    try:
        assert [a.id for a in articles.every(pg)] == ids
        for i in ids:
            assert articles.get(pg, i) == articles.get(lite, i)
        assert subscribers.for_digest(pg) == subscribers.for_digest(lite)
        assert admins.openids(pg) == {"o_admin"} and pushlog.slot_taken(pg, "2026-12-06")
        for q in ("社区", "党员 志愿", "物业"):
            assert ([h.article_id for h in search.search(pg, q).hits]
                    == [h.article_id for h in search.search(lite, q).hits]), q
        new_id, _ = articles.save(pg, articles.Article(title="复制之后新增的稿件",
                                                       body=["社区新闻。"], source="t"))
        assert new_id == max(ids) + 1
    finally:
        pg.close()
        lite.close()

    back = tmp_path / "back.db"
    r = CliRunner().invoke(main, ["--db", pg_url, "store", "copy", "--to", str(back)])
    assert r.exit_code == 0, r.output
    again = open_store(back)
    try:
        assert [a.id for a in articles.every(again)] == [*ids, max(ids) + 1]
        assert search.search(again, "复制之后新增").hits[0].article_id == max(ids) + 1
    finally:
        again.close()


def test_a_store_in_use_is_never_the_destination(tmp_path: Path, pg_url: str) -> None:
    src = tmp_path / "src.db"
    _fill(src)
    assert CliRunner().invoke(main, ["--db", str(src), "store", "copy", "--to", pg_url]).exit_code == 0
    r = CliRunner().invoke(main, ["--db", str(src), "store", "copy", "--to", pg_url])
    assert r.exit_code == 1 and "empty store only" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["--db", str(src), "store", "copy", "--to", str(src)])
    assert r.exit_code == 1 and "exists" in r.output
