"""The search engine's behaviour: index kept in step with the stories, AND then OR, synonyms,
pinyin, snippets, paging, and any input at all being safe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from store import articles, search
from store.articles import Article
from store.db import Store, open_store

FILLER = [
    Article(title="老旧小区改造让居民住得更舒心", body=["街道对三栋老楼进行了外墙保温和管网改造。"]),
    Article(title="夏季防汛演练在河堤举行", body=["应急队员演练了沙袋封堵和群众转移。"]),
    Article(title="图书馆开设周末亲子阅读课", body=["孩子们在志愿者的带领下阅读绘本。"]),
    Article(title="农贸市场完成提质升级", body=["摊位重新规划，地面铺设了防滑砖。"]),
]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path / "store.db")
    for i, a in enumerate(FILLER):
        a = Article(title=a.title, body=list(a.body), source=f"filler{i}")
        articles.save(s, a)
    return s


def add(store: Store, title: str, *body: str, authors: list[str] | None = None) -> int:
    aid, outcome = articles.save(
        store, Article(title=title, body=list(body), authors=authors or [], source="test")
    )
    assert outcome == "added"
    return aid


def ids(res: search.SearchResults) -> list[int]:
    return [h.article_id for h in res.hits]


def test_a_saved_story_is_found_edited_story_follows_deleted_story_is_gone(store: Store) -> None:
    aid = add(store, "石榴社区开办四点半课堂", "社区志愿者每天下午辅导孩子写作业。")
    assert ids(search.search(store, "四点半课堂")) == [aid]

    articles.update(store, aid, title="石榴社区开办暑期托管班")
    assert search.search(store, "四点半课堂").mode == "none"
    assert ids(search.search(store, "暑期托管")) == [aid]

    articles.delete(store, aid)
    res = search.search(store, "石榴")
    assert res.mode == "none" and res.hits == [] and res.total == 0


def test_every_word_first_then_any_word(store: Store) -> None:
    both = add(store, "金水河畔的便民服务站", "服务站为环卫工人提供热水和休息座椅。")
    one = add(store, "环卫工人节日慰问", "区里为一线环卫工人送去慰问品。")
    res = search.search(store, "环卫工人 热水")
    assert res.mode == "all" and ids(res) == [both] and res.total == 1

    res = search.search(store, "环卫工人 冰淇淋")
    assert res.mode == "any"
    assert set(ids(res)) == {both, one}


def test_a_question_is_searched_for_its_subject(store: Store) -> None:
    grid = add(store, "网格员上门登记独居老人", "网格员把老人的需求记在本子上。")
    add(store, "新闻发布会介绍防汛准备", "记者在发布会上做了报道，问了哪些河段要加固。")
    for asked in ("网格员都做什么", "有没有关于网格员的报道", "我想看看网格员的新闻"):
        res = search.search(store, asked)
        assert (res.mode, ids(res)) == ("all", [grid]) and res.terms[0] == "网格员", asked
    # said alone, such a word is still searched
    assert search.search(store, "新闻").mode == "all"


def test_any_word_ranks_stories_matching_more_words_first(store: Store) -> None:
    add(store, "老年食堂开张", "食堂每天中午供应两荤两素。")
    add(store, "暖心理发进社区", "理发师上门为行动不便的居民理发。")
    both = add(store, "周末集市", "集市上有老年食堂的试吃，也有义务理发。")
    res = search.search(store, "食堂 理发 火箭")
    assert res.mode == "any" and res.total == 3
    assert ids(res)[0] == both


def test_nothing_found_is_mode_none(store: Store) -> None:
    res = search.search(store, "量子计算机")
    assert res.mode == "none" and res.hits == [] and res.total == 0
    assert res.terms  # what was searched is reported back


def test_title_outranks_body(store: Store) -> None:
    in_body = add(store, "社区周末活动安排", "本周末还有一场关于垃圾分类的讲座和一次垃圾分类游戏。")
    in_title = add(store, "垃圾分类走进楼道", "楼长挨家挨户发放宣传册。")
    res = search.search(store, "垃圾分类")
    assert ids(res) == [in_title, in_body]
    assert res.hits[0].score > res.hits[1].score


def test_hits_carry_title_summary_and_marked_snippet(store: Store) -> None:
    aid = add(store, "银杏社区调解邻里纠纷", "调解员老周用三个晚上化解了一起漏水引发的邻里纠纷，"
              "双方握手言和。", "社区还建立了调解档案。")
    hit = search.search(store, "漏水").hits[0]
    assert hit.article_id == aid
    assert hit.title == "银杏社区调解邻里纠纷"
    assert hit.summary.startswith("调解员老周")
    assert "【漏水】" in hit.snippet
    assert hit.snippet.replace("【", "").replace("】", "") in " ".join(
        articles.get(store, aid).body  # type: ignore[union-attr]
    ).replace("…", "") or hit.snippet.startswith("…") or hit.snippet.endswith("…")


def test_snippet_is_cut_around_the_hit_in_a_long_story(store: Store) -> None:
    long_para = "会议听取了各部门的工作汇报。" * 20 + "最后宣布成立桂花巷睦邻互助会。" + "大家表示赞成。" * 20
    add(store, "街道召开季度工作会", long_para)
    snip = search.search(store, "睦邻互助会").hits[0].snippet
    assert "【睦邻互助会】" in snip
    assert snip.startswith("…") and snip.endswith("…")
    assert len(snip) < 120


def test_synonyms_widen_a_query_that_finds_too_little(store: Store) -> None:
    aid = add(store, "颐年苑开展养老服务", "为辖区老人提供助餐和日间照料。")
    res = search.search(store, "康养")
    assert ids(res) == [aid]
    assert "养老" in res.terms and "康养" in res.terms
    assert "【养老】" in res.hits[0].snippet or res.hits[0].title.find("养老") >= 0


def test_a_word_found_often_enough_is_not_widened(store: Store) -> None:
    for i in range(3):
        add(store, f"康养步道第{i + 1}段开放", f"第{i + 1}段步道沿河修建。")
    res = search.search(store, "康养")
    assert res.terms == ["康养"] and res.total == 3


def test_pinyin_full_initials_and_syllables_find_the_person(store: Store) -> None:
    aid = add(store, "老党员郭龙生的三十年", "郭龙生退休后一直在社区义务巡逻。")
    for q in ("guolongsheng", "glsh", "gls", "GuoLongSheng", "guo long sheng"):
        res = search.search(store, q)
        assert ids(res) == [aid], q
        assert "【郭龙生】" in res.hits[0].snippet, q


def test_pinyin_of_a_place_and_of_the_byline(store: Store) -> None:
    place = add(store, "汝河新村建起农家书屋", "书屋藏书两千册。")
    person = add(store, "一堂生动的党课", "党课由老支书讲授。", authors=["梅晓岚"])
    assert place in ids(search.search(store, "ruhexincun"))
    assert ids(search.search(store, "meixiaolan")) == [person]


def test_numbers_and_ascii_words(store: Store) -> None:
    aid = add(store, "643户居民用上了管道天然气", "燃气公司为643户居民开通APP缴费。")
    assert ids(search.search(store, "643")) == [aid]
    assert ids(search.search(store, "app")) == [aid]
    assert ids(search.search(store, "ＡＰＰ")) == [aid]  # full-width input


def test_paging(store: Store) -> None:
    made = [add(store, f"文明楼院评选第{i}期", f"本期共评出{i}个文明楼院。") for i in range(7)]
    first = search.search(store, "文明楼院", limit=3)
    assert first.total == 7 and len(first.hits) == 3
    second = search.search(store, "文明楼院", limit=3, offset=3)
    third = search.search(store, "文明楼院", limit=3, offset=6)
    seen = ids(first) + ids(second) + ids(third)
    assert sorted(seen) == sorted(made)
    assert search.search(store, "文明楼院", limit=3, offset=9).hits == []


def test_rebuild_restores_the_index(store: Store) -> None:
    aid = add(store, "槐树巷开通无障碍坡道", "坡道方便了轮椅出行。")
    store.db.execute("DELETE FROM search_docs")
    assert search.search(store, "无障碍坡道").mode == "none"
    calls: list[tuple[int, int]] = []
    n = search.rebuild(store, progress=lambda done, total: calls.append((done, total)))
    assert n == len(FILLER) + 1 and calls[-1] == (n, n)
    assert ids(search.search(store, "无障碍坡道")) == [aid]


HOSTILE = [
    '"', '""', "'", '"天河', "AND", "OR", "NOT", "AND OR", "a AND OR b", "*", "养*", "-", "-养老",
    ":", "title:养老", "body:", "NEAR(", "NEAR(养老 社区, 2)", "(", ")", "{title}: x", "^养老",
    "'; DROP TABLE articles; --", "1 OR 1=1", "\\", "%", "_", "😀", "😀养老😀", "\x00", "\u200b",
    "", " ", "\t\n", "　", "x" * 10_000, "养老" * 5_000, "测试，。！？、；：“”‘’（）《》", "a" * 300,
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_input_never_errors(store: Store, query: str) -> None:
    add(store, "养老服务进社区", "社区养老服务站正式运营。")
    res = search.search(store, query)
    assert isinstance(res, search.SearchResults)
    assert res.mode in {"all", "any", "none"}
    assert (res.mode == "none") == (res.hits == [])
    assert len(res.query) <= 100
    # the store is intact afterwards
    assert articles.count(store) == len(FILLER) + 1


def test_hostile_words_are_searched_as_plain_words(store: Store) -> None:
    aid = add(store, "养老服务进社区", "社区养老服务站正式运营。")
    assert ids(search.search(store, "-养老")) == [aid]
    assert ids(search.search(store, "养老 AND OR")) == [aid]
    assert ids(search.search(store, "NEAR(养老")) == [aid]


def test_bad_paging_arguments_are_clamped(store: Store) -> None:
    add(store, "养老服务进社区", "社区养老服务站正式运营。")
    assert len(search.search(store, "养老", limit=-5, offset=-3).hits) == 0
    assert len(search.search(store, "养老", limit=10_000).hits) == 1


def _cli(store: Store, *args: str) -> object:
    return CliRunner().invoke(main, ["--db", str(store.path), *args], env={"NEWSBOT_CONFIG": ""})


def test_cli_search_prints_hits_and_json(store: Store) -> None:
    aid = add(store, "银杏社区调解邻里纠纷", "调解员化解了一起漏水引发的纠纷。")
    r = _cli(store, "search", "漏水")
    assert r.exit_code == 0, r.output
    assert f"[{aid}] 银杏社区调解邻里纠纷" in r.output and "【漏水】" in r.output

    r = _cli(store, "search", "漏水", "--json", "--limit", "1")
    data = json.loads(r.output)
    assert data["mode"] == "all" and data["total"] == 1
    hit = data["hits"][0]
    assert hit["article_id"] == aid and "【漏水】" in hit["snippet"] and hit["score"] > 0
    assert set(hit) == {"article_id", "title", "summary", "snippet", "score"}


def test_cli_search_nothing_and_hostile(store: Store) -> None:
    r = _cli(store, "search", "量子计算机")
    assert r.exit_code == 0 and "nothing found" in r.output
    r = _cli(store, "search", 'NEAR( "AND OR * -:')
    assert r.exit_code == 0, r.output


def test_cli_reindex(store: Store) -> None:
    r = _cli(store, "reindex")
    assert r.exit_code == 0, r.output
    assert r.output == f"indexed {len(FILLER)} stories\n"  # no bar drawn into a pipe


def test_an_index_cut_with_another_dictionary_is_reported_until_reindexed(store: Store) -> None:
    add(store, "养老服务进社区", "社区养老服务站正式运营。")
    assert not search.index_is_stale(store)
    store.db.execute("UPDATE meta SET value = 'older' WHERE key = 'search.dictionary'")
    assert search.index_is_stale(store)
    r = CliRunner().invoke(main, ["--db", str(store.path), "search", "养老"],
                           env={"NEWSBOT_CONFIG": ""})
    assert r.exit_code == 0 and "newsbot reindex" in r.output
    search.rebuild(store)
    assert not search.index_is_stale(store)
