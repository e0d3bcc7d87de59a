"""Relevance over whole pages: each story is found by its main person or place, mixed queries
rank the right story first, and short words, numbers, ASCII and pinyin work.

Two page sets: the sample pages shipped with the project (always run) and the five seed pages
beside the checkout (skipped when absent). The pages are imported with the project's own page
import (store.ingest); expected stories are named by a piece of their title. The pairs were
written by reading the pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store import articles, search
from store.db import Store, open_store
from tests.conftest import PAGE_SETS, page_set

# query -> a piece of the title of the story that must come FIRST
OWN_FIRST = [
    # people
    ("郑秀梅", "守好网格"),
    ("贾明", "贾明"),
    ("唐红梅", "养老驿站"),
    ("冯志强", "柳湾中学"),
    ("杜红霞", "停车难题"),
    ("卢秀珍", "十年守护"),
    ("宁桂兰", "小院议事厅"),
    ("高德胜", "小院议事厅"),
    # places
    ("银杏社区养老", "养老驿站"),
    ("桂花巷", "贾明"),
    ("柳湾中学", "柳湾中学"),
    ("清水巷", "十年守护"),
    # what a story is about
    ("红色驿站", "红色驿站"),
    ("四点半课堂", "快乐暑假"),
    ("快递小哥", "红色驿站"),
    ("小院议事厅", "小院议事厅"),
    # mixed words
    ("南苑社区 停车", "停车难题"),
    ("党建 学校", "柳湾中学"),
    ("杏林街道 物业", "红色物业"),
    # numbers, ASCII, pinyin
    ("386", "守好网格"),
    ("zhengxiumei", "守好网格"),
    ("zxm", "守好网格"),
    ("luxiuzhen", "十年守护"),
    ("jiaming", "贾明"),
    # the OR fallback still puts the story of the one word it knows first
    ("卢秀珍 火星基地", "十年守护"),
]

SEED_FIRST = [
    # people
    ("商国亮", "三心"),
    ("王维翔", "体悟初心"),
    ("樊金山", "杨桥办事处"),
    ("吴孝刚", "汝河路街道"),
    ("卢法舜", "棉纺路街道"),
    ("李振亮", "微党课"),
    ("胡向阳", "最后一米"),
    ("郝齐营", "带动大伙儿"),
    ("戴杏洁", "贫困户"),
    ("王春良", "贫困户"),
    ("耿学连", "小切口"),
    ("郭龙生", "郭龙生"),
    ("张乾林", "张乾林"),
    ("王建", "群众满意"),
    # places
    ("花园口", "体悟初心"),
    ("天河社区", "三心"),
    ("祭城", "群众满意"),
    ("郑东新区", "微党课"),
    ("杨桥", "杨桥办事处"),
    ("汝河路", "汝河路街道"),
    ("棉纺路街道", "棉纺路街道"),
    ("方圆经纬社区", "棉纺路街道"),
    ("桐柏路", "桐柏路街道"),
    ("延中小区", "最后一米"),
    ("许继配电", "带动大伙儿"),
    ("大王寨村", "贫困户"),
    ("平山园社区", "小切口"),
    ("孟州市", "小切口"),
    ("永兴屯村", "郭龙生"),
    ("民主街道", "张乾林"),
    ("山阳区", "643"),
    # what a story is about
    ("区域化党建", "在融合中共赢"),
    ("集中采访", "党员亮身份"),
    ("太阳能照明灯", "小切口"),
    ("扶贫工厂", "贫困户"),
    ("微党课", "微党课"),
    ("党员先锋岗", "带动大伙儿"),
    # mixed words
    ("天河社区养老", "三心"),
    ("花园口 红色教育基地", "体悟初心"),
    ("老党员 延中小区", "最后一米"),
    ("郭书记 排水", "郭龙生"),
    ("643党建", "643"),
    ("党建 学校", "643"),
    ("孟州 网格员", "小切口"),
    # numbers, ASCII, pinyin
    ("643", "643"),
    ("guolongsheng", "郭龙生"),
    ("glsh", "郭龙生"),
    ("guo long sheng", "郭龙生"),
    ("shangguoliang", "三心"),
    ("zhangqianlin", "张乾林"),
    ("haoqiying", "带动大伙儿"),
    ("huayuankou", "体悟初心"),
    ("dawangzhaicun", "贫困户"),
    # the OR fallback still puts the story of the one word it knows first
    ("郭龙生 火星基地", "郭龙生"),
]

FIRST = {"own": OWN_FIRST, "seed": SEED_FIRST}

# words that many stories share: the stories with the word in their headline come first
TITLE_FIRST = {
    "own": ["党员", "社区", "驿站", "议事会"],
    "seed": ["党建", "社区", "主题教育", "党课"],
}

# per set: a person (by name and by pinyin initials) and a number printed in one story only
MARKED = {"own": ("郑秀梅", "zxm", "386"), "seed": ("郭龙生", "glsh", "643")}
# a query with a word no page says, reaching a story through the word's synonym group
SYNONYM = {"own": ("敬老 银杏社区", "养老驿站"), "seed": ("敬老 天河社区", "三心")}


def per_set(table: dict[str, list[Any]]) -> list[Any]:
    """Test cases over both page sets: each row of ``table[kind]`` (a tuple, or one value)
    with the set first, for the store fixture."""
    cases = []
    for kind, rows in table.items():
        for row in rows:
            values = row if isinstance(row, tuple) else (row,)
            cases.append(pytest.param(kind, *values, id=f"{kind}-{values[0]}"))
    return cases


@pytest.fixture(scope="module")
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store holding one page set, imported once per module and set."""
    from store.ingest import import_text

    pages = page_set(request.param)
    path: Path = tmp_path_factory.mktemp(f"relevance-{request.param}") / "store.db"
    store = open_store(path)
    for page in pages:
        import_text(store, page.read_text(encoding="utf-8"), page.name)
    return store


every_set = pytest.mark.parametrize("seeded", PAGE_SETS, indirect=True)


def titles(res: search.SearchResults) -> list[str]:
    return [h.title for h in res.hits]


@every_set
def test_the_pages_were_imported_as_stories(seeded: Store) -> None:
    n = seeded.db.execute("SELECT count(*) FROM articles").fetchone()[0]
    assert n >= 12


@pytest.mark.parametrize("seeded,query,expected", per_set(FIRST), indirect=["seeded"])
def test_the_right_story_comes_first(seeded: Store, query: str, expected: str) -> None:
    res = search.search(seeded, query)
    assert res.hits, f"{query!r} found nothing"
    assert expected in res.hits[0].title, f"{query!r}: {titles(res)}"


@pytest.mark.parametrize("seeded,word", per_set(TITLE_FIRST), indirect=["seeded"])
def test_common_words_put_stories_titled_with_them_first(seeded: Store, word: str) -> None:
    res = search.search(seeded, word, limit=10)
    assert res.mode == "all" and res.total >= 2
    heads = [headline(seeded, h.article_id) for h in res.hits]
    assert word in heads[0], heads
    in_head = [word in t for t in heads]
    # every story with the word in its headline ranks above every story without it
    assert in_head == sorted(in_head, reverse=True), heads


def headline(store: Store, article_id: int) -> str:
    """What the reader sees above the story: kicker, title, subtitle."""
    a = articles.get(store, article_id)
    assert a is not None
    return f"{a.kicker} {a.title} {a.subtitle}"


@every_set
def test_every_story_is_found_by_its_own_title(seeded: Store) -> None:
    rows = seeded.db.execute("SELECT id, title FROM articles").fetchall()
    for aid, title in rows:
        res = search.search(seeded, title, limit=3)
        assert aid in [h.article_id for h in res.hits], f"{title!r}: {titles(res)}"


@pytest.mark.parametrize("seeded,name,initials,number",
                         per_set({kind: [row] for kind, row in MARKED.items()}),
                         indirect=["seeded"])
def test_a_person_query_marks_the_name_in_the_snippet(seeded: Store, name: str, initials: str,
                                                      number: str) -> None:
    hit = search.search(seeded, name).hits[0]
    assert f"【{name}】" in hit.snippet
    hit = search.search(seeded, initials).hits[0]
    assert f"【{name}】" in hit.snippet
    res = search.search(seeded, number)
    assert res.total == 1
    assert f"【{number}】" in res.hits[0].snippet or number in res.hits[0].title


@pytest.mark.parametrize("seeded,query,piece",
                         per_set({kind: [row] for kind, row in SYNONYM.items()}),
                         indirect=["seeded"])
def test_synonyms_reach_a_story_written_with_the_other_word(seeded: Store, query: str,
                                                           piece: str) -> None:
    # no page says 敬老: its group (养老, 康养, 助老 ...) reaches the story that says 养老
    res = search.search(seeded, query)
    assert res.hits and piece in res.hits[0].title
    assert "养老" in res.terms


@every_set
@pytest.mark.parametrize("query", ["AND OR", 'NEAR("党建"', "党建*", "-社区", "title:党建",
                                   "'; DELETE FROM articles; --", "😀党建😀", "党建" * 3000])
def test_hostile_queries_over_the_pages(seeded: Store, query: str) -> None:
    res = search.search(seeded, query)
    assert res.mode in {"all", "any", "none"}


@pytest.mark.parametrize("kind", PAGE_SETS)
def test_the_fast_cut_is_jiebas_cut_word_for_word(kind: str) -> None:
    for page in page_set(kind):
        check_the_cut(page)


def check_the_cut(page: Path) -> None:
    from store.query import normalise, words
    from store.search_cut import precise
    from store.search_index import cut
    from store.segment import tokenizer

    text = page.read_text(encoding="utf-8")
    assert precise(text) == list(tokenizer().cut(text, HMM=True))
    # the search-mode tokens derived from it are jieba's search mode (plus the parts of
    # HMM-made words, which the index adds on purpose)
    ours = cut(text)[0]
    theirs = words(list(tokenizer().cut_for_search(normalise(text), HMM=True)))
    assert set(theirs) <= set(ours)
    extra = set(ours) - set(theirs)
    assert all(len(t) <= 2 for t in extra)
