"""The store contract, run against every backend: a SQLite file and a real PostgreSQL database.

The same calls give the same results on both: stories keep their ids and identity rules,
subscribers and push logs behave alike, one digest per slot, the lease, admins, the audit,
migrations (in step, refusing a store marked incompatible) and search ranking.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from store import admins, articles, audit, pushlog, search, subscribers
from store.articles import Article
from store.db import MIGRATIONS, READERS_KEY, StoreError, open_store
from store.pushlog import Delivery, Outcome
from tests.conftest import store_spec

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_spec(request, tmp_path, request.param)


@pytest.fixture
def store(where: str) -> Iterator[Any]:
    s = open_store(where)
    yield s
    s.close()


def story(title: str, *body: str, source: str = "p.txt") -> Article:
    return Article(title=title, body=list(body) or [f"{title}。社区党支部组织党员开展活动。"],
                   source=source)


def test_a_new_store_is_at_the_newest_schema(store: Any) -> None:
    n = store.db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    assert int(n) == len(MIGRATIONS)


def test_both_schemas_have_the_same_tables_and_columns(tmp_path: Path, pg_url: str) -> None:
    lite, pg = open_store(tmp_path / "s.db"), open_store(pg_url)
    try:
        tables = [r[0] for r in lite.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'search_docs_%'"
            " AND name NOT LIKE 'sqlite_%'")]
        for t in tables:
            lite_cols = {r[1] for r in lite.db.execute(f"PRAGMA table_info([{t}])")}
            pg_cols = {r[0] for r in pg.db.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", (t,))}
            assert lite_cols == pg_cols, t
    finally:
        lite.close()
        pg.close()


def test_stories_keep_identity_and_ids(store: Any) -> None:
    first, outcome = articles.save(store, story("社区食堂开张", "银杏社区党支部牵头开办的社区食堂今天开张。"))
    assert outcome == "added"
    again = story("社区食堂开张", "银杏社区党支部牵头开办的社区食堂今天开张。")
    assert articles.save(store, again) == (first, "unchanged")
    articles.update(store, first, category_override=["社区"])
    edited = story("社区食堂开张", "银杏社区党支部牵头开办的社区食堂昨天开张。")
    assert articles.save(store, edited) == (first, "updated")
    got = articles.require(store, first)
    assert got.body == edited.body and got.category_override == ["社区"]
    second, _ = articles.save(store, story("党员志愿服务队进小区"))
    assert second > first
    assert [a.id for a in articles.many(store, [second, 999, first])] == [second, first]
    assert first in [a.id for a in articles.latest(store, 5, category="社区")]
    assert [a.id for a in articles.latest(store, 1)] == [second]
    assert articles.count(store) == 2 and [a.id for a in articles.every(store)] == [first, second]
    gen = articles.generation(store)
    articles.delete(store, second)
    assert articles.get(store, second) is None and articles.generation(store) != gen
    with pytest.raises(StoreError):
        articles.update(store, first, nonsense=1)


def test_concurrent_saves_get_distinct_ids(store: Any) -> None:
    errors: list[BaseException] = []

    def add(i: int) -> None:
        try:
            for k in range(5):
                articles.save(store, story(f"第{i}组第{k}条社区新闻"))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            store.close_thread()

    threads = [threading.Thread(target=add, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = [a.id for a in articles.every(store)]
    assert len(ids) == 20 == len(set(ids))


def test_subscribers(store: Any) -> None:
    s = subscribers.subscribe(store, "o_a", ["社区"])
    assert s.categories == ["社区"] and s.following
    assert subscribers.subscribe(store, "o_a", ["党建"]).categories == ["党建", "社区"]
    subscribers.subscribe(store, "o_b", ["党建"])
    subscribers.set_following(store, "o_b", False)
    subscribers.touch(store, "o_a", at=1000.0)
    assert [x.openid for x in subscribers.for_digest(store)] == ["o_a"]
    assert subscribers.get(store, "o_a").last_seen == 1000.0  # type: ignore[union-attr]
    assert subscribers.unsubscribe(store, "o_a", ["党建"]).categories == ["社区"]  # type: ignore[union-attr]
    assert subscribers.count(store) == 1
    assert subscribers.unsubscribe(store, "o_nobody") is None


def test_queued_rows_land_in_order_and_a_bad_one_costs_only_itself(store: Any) -> None:
    """What the webhook queues (a reader's last-seen, a query-log row) lands in the order it
    was queued, runs of one statement and others mixed; a row the store refuses is dropped
    alone."""
    log_row = 'INSERT INTO query_log (at, "user", "query", hits) VALUES (?, ?, ?, ?)'
    for i in range(6):
        store.write_later(log_row, ("2024-01-01T00:00:00+00:00", "o_q", f"q{i}", i))
        if i % 2:
            subscribers.touch(store, f"o_{i}", at=1000.0 + i, later=True)
    store.write_later("INSERT INTO no_such_table VALUES (?)", (1,))
    store.write_later(log_row, ("2024-01-01T00:00:00+00:00", "o_q", "last", 9))
    store.flush()
    rows = store.db.execute('SELECT "query", hits FROM query_log ORDER BY id').fetchall()
    assert [tuple(r) for r in rows] == [(f"q{i}", i) for i in range(6)] + [("last", 9)]
    seen = [subscribers.get(store, o) for o in ("o_1", "o_3", "o_5")]
    assert [s.last_seen if s else None for s in seen] == [1001.0, 1003.0, 1005.0]


def test_one_digest_per_slot_and_its_log(store: Any) -> None:
    plan = [Delivery("o_a", ["社区"]), Delivery("o_b", ["党建"])]
    d = pushlog.start(store, channel="customer_service", since=None, article_ids=[1, 2],
                      recipients=plan, slot="2026-12-07")
    assert d is not None and d.article_ids == [1, 2] and d.slot == "2026-12-07"
    assert pushlog.start(store, channel="customer_service", since=None, article_ids=[1],
                         recipients=plan, slot="2026-12-07") is None
    assert pushlog.slot_taken(store, "2026-12-07")
    assert [x.openid for x in pushlog.due(store, d.id)] == ["o_a", "o_b"]
    pushlog.record(store, d.id, [Outcome("o_a", "sent"), Outcome("o_b", "failed", "45015")])
    assert pushlog.tally(store, d.id) == {"sent": {"": 1}, "failed": {"45015": 1}}
    pushlog.finish(store, d.id, "done", {"sent": 1})
    got = pushlog.latest(store)
    assert got is not None and got.id == d.id and got.status == "done" and got.report == {"sent": 1}
    manual = pushlog.start(store, channel="mass", since=None, article_ids=[], recipients=[])
    assert manual is not None and manual.id > d.id


def test_the_run_lease(store: Any) -> None:
    a = pushlog.take_lease(store, "hostA:1:1", 60).lease
    assert a is not None
    refused = pushlog.take_lease(store, "hostB:2:2", 60)
    assert refused.lease is None and refused.holder == "hostA:1:1"
    pushlog.renew_lease(store, a)
    pushlog.drop_lease(store, a)
    b = pushlog.take_lease(store, "hostB:2:2", 60).lease
    assert b is not None and b.token > a.token  # the fencing token only grows
    with pytest.raises(pushlog.LeaseLost):
        pushlog.renew_lease(store, a)


def test_admins_and_audit(store: Any) -> None:
    assert admins.add(store, "o_admin", by="cli") and not admins.add(store, "o_admin", by="cli")
    assert admins.openids(store) == frozenset({"o_admin"})
    aid, _ = articles.save(store, story("社区议事会召开"))
    with store.transaction():
        articles.update(store, aid, title="社区议事会顺利召开")
        audit.record(store, "o_admin", "edit", article_id=aid, before={"title": "社区议事会召开"},
                     after={"title": "社区议事会顺利召开"})
    e = audit.entries(store)[0]
    assert (e.admin, e.action, e.article_id, e.after) == (
        "o_admin", "edit", aid, {"title": "社区议事会顺利召开"})
    assert admins.remove(store, "o_admin", by="cli") and admins.openids(store) == frozenset()


def test_a_failed_transaction_leaves_nothing(store: Any) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        articles.save(store, story("不会留下的稿件"))
        raise RuntimeError("stop")
    assert articles.count(store) == 0


def test_an_operation_on_one_connection_writes_reads_and_rolls_back_as_any_other(
        store: Any) -> None:
    with store.pinned():
        first, _ = articles.save(store, story("同一连接上保存的稿件"))
        with pytest.raises(RuntimeError), store.transaction():
            articles.save(store, story("回滚的稿件"))
            raise RuntimeError("stop")
        assert articles.count(store) == 1
        with store.pinned():  # nested: the same operation
            assert search.search(store, "同一连接").hits[0].article_id == first
    assert articles.count(store) == 1
    second, _ = articles.save(store, story("之后保存的稿件 同一连接"))
    # the index totals held for one search are read afresh by the next
    assert {h.article_id for h in search.search(store, "同一连接").hits} == {first, second}


def test_a_duplicate_key_is_an_integrity_error(store: Any) -> None:
    admins.add(store, "o_x", by="cli")
    with pytest.raises(sqlite3.IntegrityError):
        store.db["admins"].insert({"openid": "o_x", "added_at": "x", "added_by": "y"})


def test_a_store_of_the_previous_schema_gets_the_word_index_filled(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's match index arrived with a migration: stories stored before it are found
    by several words at once, the same as stories stored after."""
    from store import pg_schema

    with monkeypatch.context() as m:  # the schema as the release before it left it
        m.setattr(pg_schema, "MIGRATIONS", pg_schema.MIGRATIONS[:-1])
        s = open_store(pg_url)
        old = [articles.save(s, story(f"银杏社区食堂第{i}期", "银杏社区党支部牵头开办老年食堂。"))[0]
               for i in range(3)]
        assert s.db.execute("SELECT to_regclass('search_match')").fetchone()[0] is None
        s.close()
    s = open_store(pg_url)  # migrates
    try:
        new, _ = articles.save(s, story("银杏社区食堂新址", "银杏社区党支部把老年食堂搬到新址。"))
        res = search.search(s, "银杏 老年食堂", limit=10)
        assert res.mode == "all" and {h.article_id for h in res.hits} == {*old, new}
        assert search.search(s, "银杏 火箭").mode == "any"
    finally:
        s.close()


def test_a_newer_store_is_served_unless_marked_incompatible(where: str) -> None:
    s = open_store(where)
    s.db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                 (len(MIGRATIONS) + 1, "x"))
    s.close()
    s = open_store(where)  # an additive newer release: this one keeps serving
    assert articles.save(s, story("滚动发布时仍可写入"))[1] == "added"
    s.db.execute("UPDATE meta SET value = ? WHERE key = ?", (str(len(MIGRATIONS) + 1), READERS_KEY))
    s.close()
    with pytest.raises(StoreError, match="upgrade newsbot"):
        open_store(where)


def test_search_finds_and_ranks(store: Any) -> None:
    from store.samples import import_samples_if_empty

    assert import_samples_if_empty(store) > 10
    res = search.search(store, "社区")
    assert res.mode == "all" and res.hits and res.total >= len(res.hits)
    res = search.search(store, "养老 食堂 不存在的词语")
    assert res.mode in ("all", "any")
    assert search.search(store, "qwertyzzz").mode == "none"


QUERIES = ("社区", "党建", "党员", "志愿服务", "老人 食堂", "物业", "网格员", "红色物业",
           "党支部 活动", "居民", "联盟", "六湾", "养老服务", "共建", "不存在的词语 社区",
           # several words are matched by PostgreSQL's tsquery: what the query language would
           # read as operators or quotes stays plain text
           "O'Brien 社区", "c:d x&y|z 党建", "C++ (居民) !物业", "老人\\ 食堂:*")


def test_search_gives_the_same_top_stories_on_both_backends(tmp_path: Path, pg_url: str) -> None:
    from store.samples import import_samples_if_empty

    lite, pg = open_store(tmp_path / "s.db"), open_store(pg_url)
    try:
        assert import_samples_if_empty(lite) == import_samples_if_empty(pg)
        for q in QUERIES:
            a, b = search.search(lite, q, limit=5), search.search(pg, q, limit=5)
            assert (a.mode, a.total) == (b.mode, b.total), q
            # ties may reorder: compare each score's stories
            sa = sorted((round(h.score, 9), h.article_id) for h in a.hits)
            sb = sorted((round(h.score, 9), h.article_id) for h in b.hits)
            assert sa == sb, q
    finally:
        lite.close()
        pg.close()


def test_prepared_statements_can_be_turned_off_for_a_pooler(tmp_path: Path, pg_url: str) -> None:
    """A statement a connection repeats has its plan kept on the server, unless ``[store]
    prepared_statements = false`` (a pooler such as PgBouncer in transaction mode hands each
    transaction another server connection, which would not know the statement)."""
    from bot.config import load_config
    from store.db import open_configured
    from tests.conftest import write_config

    kept = {}
    for flag in ("true", "false"):
        folder = tmp_path / flag
        folder.mkdir()
        cfg = load_config(write_config(folder, store=f'backend = "postgres"\nurl = "{pg_url}"\n'
                                       f"pool_size = 1\nprepared_statements = {flag}"), env={})
        s = open_configured(cfg)
        try:
            for _ in range(8):
                assert articles.generation(s) == 0
            kept[flag] = s.db.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
        finally:
            s.close()
    assert kept["true"] >= 1 and kept["false"] == 0
