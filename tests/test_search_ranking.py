"""The fast ranking (top lists + threshold algorithm) gives the same pages as FTS5's bm25 over
every match, before and after stories are added, edited and deleted.

The thresholds are lowered so that a store of a few hundred synthetic stories has plenty of
"common" words; the production sizes only change when the fast path kicks in."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.search_corpus import stories
from store import articles, search, search_lists, search_pg, search_rank
from store.articles import Article
from store.db import Store, open_store
from store.query import parse, widened
from store.search_bm25 import FTS, idf, impact, stats, weighted_tf, weights_sql

N = 600


@pytest.fixture(scope="module")
def small_lists() -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setattr(search_rank, "RARE_DF", 15)
    mp.setattr(search_pg, "COMMON", 15)  # PostgreSQL's count walks common words' rows
    mp.setattr(search_rank, "COUNT_CAP", 40)
    mp.setattr(search_lists, "LIST_SIZE", 150)
    mp.setattr(search_rank, "LOOKUPS", 1000)  # let the proof run to the end of the lists
    mp.setattr(search_rank, "DEPTH", 1000)
    yield
    mp.undo()


def make_store(path: Path) -> Store:
    s = open_store(path)
    with s.transaction():
        s.db["articles"].insert_all(stories(N, seed=3))
    search.rebuild(s, workers=1)
    return s


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, small_lists: None) -> Store:
    """One store for the tests that only read (building it is the slow part)."""
    return make_store(tmp_path_factory.mktemp("ranking") / "store.db")


@pytest.fixture
def store(tmp_path: Path, small_lists: None) -> Store:
    return make_store(tmp_path / "store.db")


QUERIES = ["党建", "社区", "主题教育", "党员", "社区党员", "党建引领", "主题教育 党支部",
           "社区 养老", "党员干部 基层治理", "网格员", "垃圾分类", "居民 志愿服务"]


def same(fast: search_rank.Ranked, slow: search_rank.Ranked) -> None:
    assert [a for a, _ in fast.scored] == [a for a, _ in slow.scored]
    for (_, x), (_, y) in zip(fast.scored, slow.scored):
        assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-15)


def check(store: Store, query: str, limit: int = 5, offset: int = 0, mode: str = "all",
          expect_lists: bool = True) -> None:
    q = parse(query)
    e = search_rank.expr_all(q.slots) if mode == "all" else search_rank.expr_any(q.slots)
    fast = search_rank.rank(store, e, limit, offset)
    slow = search_rank.rank_fts(store.db, e, limit, offset)
    if expect_lists:
        assert fast.method == "lists", query
    same(fast, slow)
    if fast.method == "lists" and fast.total <= search_rank.COUNT_CAP:
        assert fast.total == slow.total


def test_bm25_outside_fts5_agrees_with_fts5(shared: Store) -> None:
    nrow, avgdl = stats(shared.db)
    assert nrow == N
    n = shared.db.execute("SELECT doc FROM search_docs_vocab WHERE term = '党员'").fetchone()[0]
    rows = shared.db.execute(
        f"SELECT rowid, bm25({FTS}, {weights_sql()}) FROM {FTS} WHERE {FTS} MATCH '\"党员\"'"
        " LIMIT 50"
    ).fetchall()
    for rowid, bm in rows:
        title, body, names, dl = shared.db.execute(
            "SELECT title, body, names, length FROM search_docs WHERE article_id = ?", (rowid,)
        ).fetchone()
        mine = idf(nrow, n) * impact(weighted_tf((title, body, names), "党员"), dl, avgdl)
        assert math.isclose(mine, -bm, rel_tol=1e-9)


@pytest.mark.parametrize("query", QUERIES)
def test_lists_give_the_same_first_pages_as_bm25(shared: Store, query: str) -> None:
    check(shared, query)
    check(shared, query, limit=5, offset=5)
    check(shared, query, limit=10)


def test_any_word_and_synonym_expressions(shared: Store) -> None:
    check(shared, "党建 社区 量子", mode="any")
    wide = widened(parse("养老 党员"))
    assert wide is not None
    e = search_rank.expr_all(wide.slots)
    same(search_rank.rank(shared, e, 5, 0), search_rank.rank_fts(shared.db, e, 5, 0))


def test_a_rare_word_with_a_common_one_is_ranked_by_fts5(shared: Store) -> None:
    person = json.loads(shared.db.execute("SELECT authors FROM articles LIMIT 1").fetchone()[0])[0]
    check(shared, f"{person} 党员", expect_lists=False)


def test_lists_stay_true_through_adds_edits_and_deletes(store: Store) -> None:
    check(store, "党员")  # builds the lists
    check(store, "社区党员")
    # stories that must enter the top of the list: short, the word in the title
    new = [articles.save(store, Article(title=f"党员先锋{i}", body=["社区党员走访。"],
                                        source=f"t{i}"))[0] for i in range(3)]
    top = search_rank.rank(store, search_rank.expr_all(parse("党员").slots), 5, 0)
    assert set(new) <= {a for a, _ in top.scored}
    check(store, "党员")
    check(store, "社区党员")
    # delete the current best, edit the next one away from the word
    best = [a for a, _ in top.scored]
    articles.delete(store, best[0])
    articles.update(store, best[1], title="一则没有那个词的标题", body=["这里只谈天气。"])
    check(store, "党员")
    check(store, "社区党员")
    check(store, "党员", limit=10, offset=5)


def test_search_uses_the_lists_and_reports_totals(shared: Store) -> None:
    res = search.search(shared, "党员", limit=5)
    n = shared.db.execute("SELECT doc FROM search_docs_vocab WHERE term = '党员'").fetchone()[0]
    assert res.total == n and len(res.hits) == 5 and res.mode == "all"
    assert shared.db.execute("SELECT count(*) FROM search_hot").fetchone()[0] >= 1


def test_when_the_lists_cannot_prove_a_page_they_give_matching_stories_with_true_scores(
        shared: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_rank, "LOOKUPS", 0)
    monkeypatch.setattr(search_rank, "DEPTH", 32)
    methods = set()
    for query in ["主题教育 党支部", "社区党员", "党员干部 基层治理", "居民 志愿服务"]:
        e = search_rank.expr_all(parse(query).slots)
        fast = search_rank.rank(shared, e, 5, 0)
        methods.add(fast.method)
        full = dict(search_rank.rank_fts(shared.db, e, N, 0).scored)
        assert len(fast.scored) == 5
        for aid, score in fast.scored:  # real matches, scored exactly as bm25 scores them
            assert math.isclose(score, full[aid], rel_tol=1e-9, abs_tol=1e-15)
        assert [s for _, s in fast.scored] == sorted((s for _, s in fast.scored), reverse=True)
    assert "lists~" in methods



def test_a_list_built_while_the_store_is_locked_is_used_unstored(
        tmp_path: Path, small_lists: None) -> None:
    s = make_store(tmp_path / "store.db")
    other = open_store(tmp_path / "store.db")
    other.db.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        check(s, "党员")
        assert s.db.execute("SELECT count(*) FROM search_hot").fetchone()[0] == 0
    finally:
        other.db.execute("ROLLBACK")
    check(s, "党员")
    assert s.db.execute("SELECT count(*) FROM search_hot").fetchone()[0] == 1


@pytest.fixture(scope="module")
def pg_shared(shared: Store, pg_server: str) -> Iterator[Store]:
    """The shared stories copied into PostgreSQL (ids kept), searched by the same engine."""
    import os

    from store.copy import copy
    from tests.pg_support import create_database, drop_database

    name = f"newsbot_ranking_{os.getpid()}"
    s = open_store(create_database(pg_server, name))
    copy(shared, s)
    yield s
    s.close()
    drop_database(pg_server, name)


PG_QUERIES = [*QUERIES, "党建 社区 量子", "社区 火箭", "居民 志愿服务 量子"]


@pytest.mark.parametrize("plan", ["walk", "index"])
@pytest.mark.parametrize("query", PG_QUERIES)
def test_postgresql_ranks_as_sqlite_through_the_lists_and_over_every_match(
        shared: Store, pg_shared: Store, query: str, plan: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # an AND of common words is counted by walking its rarest word, or through the GIN index
    monkeypatch.setattr(search_pg, "POSTINGS_PER_PROBE", 0 if plan == "walk" else 10**9)
    for mode in ("all", "any"):
        q = parse(query)
        e = search_rank.expr_all(q.slots) if mode == "all" else search_rank.expr_any(q.slots)
        for limit, offset in ((5, 0), (5, 5), (10, 0)):
            fast = search_rank.rank(pg_shared, e, limit, offset)
            exact = search_rank.rank_fts(pg_shared.db, e, limit, offset)
            fts5 = search_rank.rank_fts(shared.db, e, limit, offset)
            same(exact, fts5)  # every match scored on PostgreSQL: FTS5's page
            same(fast, search_rank.rank(shared, e, limit, offset))
            if fast.method == "lists":
                same(fast, exact)
            assert fast.total == search_rank.rank(shared, e, limit, offset).total
    wide = widened(parse(query))
    if wide is not None:
        e = search_rank.expr_all(wide.slots)
        same(search_rank.rank_fts(pg_shared.db, e, 5, 0), search_rank.rank_fts(shared.db, e, 5, 0))


def test_a_group_of_words_in_an_or_counts_only_where_the_whole_group_matched(
        shared: Store, pg_shared: Store) -> None:
    # 社区 AND 量子 matches no story (量子 is in none): FTS5 scores every match by 党员 alone,
    # although most of them hold 社区 too; so must the lists and PostgreSQL
    e = ("or", [("and", ["党员"]), ("and", ["社区", "量子"])])
    fts5 = search_rank.rank_fts(shared.db, e, 10, 0)
    alone = search_rank.rank_fts(shared.db, "党员", 10, 0)
    same(fts5, alone)
    for store in (shared, pg_shared):
        fast = search_rank.rank(store, e, 10, 0)
        assert fast.method == "lists"
        same(fast, fts5)
    same(search_rank.rank_fts(pg_shared.db, e, 10, 0), fts5)
