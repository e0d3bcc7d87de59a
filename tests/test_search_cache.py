"""The subscribers' search cache: a repeated keyword is answered without running the engine
again, and any change to the stories, made by this process or another one, shows on the next
message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.app import Services
from handlers.search_cache import SearchCache
from store import articles, search
from store.articles import Article
from store.db import Store, open_store
from store.search import rebuild
from tests.conftest import Bot

STORIES = [
    Article(title="银杏社区开办老年食堂", body=["老人每天中午在食堂吃上热乎饭，养老服务就在家门口。"],
            source="cache-1"),
    Article(title="党员志愿者走进养老院", body=["志愿者为老人理发、读报，陪他们聊天。"], source="cache-2"),
    Article(title="河堤步道完成改造", body=["步道铺设了透水砖，沿途增设了座椅。"], source="cache-3"),
]


@pytest.fixture
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every query the search engine itself runs, in order."""
    calls: list[str] = []
    real = search.search

    def counted(store: Any, query: str, *args: Any, **kw: Any) -> search.SearchResults:
        calls.append(query)
        return real(store, query, *args, **kw)

    monkeypatch.setattr(search, "search", counted)
    return calls


def save_stories(store: Store) -> Store:
    for a in STORIES:
        articles.save(store, Article(title=a.title, body=list(a.body), source=a.source))
    return store


@pytest.fixture
def seeded(services: Services) -> Services:
    save_stories(services.store)
    return services


@pytest.fixture
def stocked(tmp_path: Path) -> Store:
    """A store of its own with the test stories, for a cache used directly."""
    return save_stories(open_store(tmp_path / "s.db"))


def other_process(services: Services) -> Store:
    """A second Store on the same file: what another worker or the CLI writes through."""
    return open_store(services.store.path)


def test_a_repeated_keyword_is_answered_from_the_cache(seeded: Services, bot: Bot,
                                                      engine_calls: list[str]) -> None:
    engine_calls.clear()  # the start-up warm-up may have searched
    first = bot.send("养老", user="o_a").render()
    assert "老年食堂" in first and "养老院" in first
    again = [bot.send("养老", user=f"o_{i}").render() for i in range(5)]
    assert again == [first] * 5
    assert engine_calls == ["养老"]
    assert len(seeded.shared.search_cache) == 1

    bot.send("步道", user="o_b")  # another keyword is its own search
    assert engine_calls == ["养老", "步道"]


def test_another_processs_add_edit_and_delete_show_on_the_next_message(
        seeded: Services, bot: Bot, engine_calls: list[str]) -> None:
    before = bot.send("食堂", user="o_a").render()
    assert "老年食堂" in before and "幸福食堂" not in before
    assert bot.send("食堂", user="o_b").render() == before  # cached

    other = other_process(seeded)
    try:
        aid, outcome = articles.save(other, Article(
            title="石榴社区幸福食堂开张", body=["食堂为独居老人提供送餐上门。"], source="cache-4"))
        assert outcome == "added"
        assert "幸福食堂" in bot.send("食堂", user="o_c").render()

        articles.update(other, aid, title="石榴社区长者食堂开张")
        edited = bot.send("食堂", user="o_d").render()
        assert "长者食堂" in edited and "幸福食堂" not in edited

        articles.delete(other, aid)
        gone = bot.send("食堂", user="o_e").render()
        assert "长者食堂" not in gone and "老年食堂" in gone
    finally:
        other.close()


def test_the_latest_lists_are_read_once_until_a_story_changes(
        seeded: Services, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    """最新 and the menu's 最新 button: a burst reads the store once per list; a story another
    process adds is on the next message's list."""
    reads: list[tuple[Any, ...]] = []
    real = articles.latest

    def counted(store: Store, limit: int = 5, category: str | None = None,
                offset: int = 0) -> list[Article]:
        reads.append((limit, category, offset))
        return real(store, limit, category, offset)

    monkeypatch.setattr(articles, "latest", counted)
    first = bot.send("最新", user="o_a").render()
    assert "河堤步道完成改造" in first
    assert [bot.send("最新", user=f"o_{i}").render() for i in range(3)] == [first] * 3
    click = bot.send(user="o_b", event="CLICK", key="LATEST")
    assert click.kind == "news" and "河堤步道完成改造" in click.render()
    bot.send(user="o_c", event="CLICK", key="LATEST")
    assert len(reads) == 2  # the text's list and the button's cards, each read once

    other = other_process(seeded)
    try:
        articles.save(other, Article(title="石榴社区幸福食堂开张", body=["食堂为独居老人送餐。"],
                                     source="cache-latest"))
    finally:
        other.close()
    assert "幸福食堂" in bot.send("最新", user="o_d").render()
    assert "幸福食堂" in bot.send(user="o_e", event="CLICK", key="LATEST").render()
    assert len(reads) == 4


def test_a_category_change_elsewhere_drops_the_cached_pages(
        seeded: Services, bot: Bot, engine_calls: list[str]) -> None:
    engine_calls.clear()
    bot.send("养老", user="o_a")
    bot.send("养老", user="o_b")
    assert engine_calls == ["养老"]
    aid = articles.latest(seeded.store, 1)[0].id
    other = other_process(seeded)
    try:
        articles.update(other, int(aid or 0), category_override=["社区"])
    finally:
        other.close()
    bot.send("养老", user="o_c")
    assert engine_calls == ["养老", "养老"]


def test_paging_keys_on_the_page_and_the_spelling_of_the_query_is_kept(
        stocked: Store, engine_calls: list[str]) -> None:
    store = stocked
    cache = SearchCache(size=8)
    page0 = cache.search(store, "养老", limit=1, offset=0)
    page1 = cache.search(store, "养老", limit=1, offset=1)
    assert page0.hits[0].article_id != page1.hits[0].article_id
    assert len(engine_calls) == 2
    # full-width, upper case and surrounding spaces fold to the same query as the engine's
    store_a = articles.save(store, Article(title="ABC小区换新门禁", body=["门禁系统升级。"],
                                           source="cache-5"))[0]
    first = cache.search(store, "abc", limit=5, offset=0)
    same = cache.search(store, " ＡＢＣ ", limit=5, offset=0)
    assert [h.article_id for h in same.hits] == [h.article_id for h in first.hits] == [store_a]
    assert same.query == "ＡＢＣ" and first.query == "abc"
    assert engine_calls == ["养老", "养老", "abc"]


def test_the_cache_is_bounded_least_recently_used_first_out(
        stocked: Store, engine_calls: list[str]) -> None:
    store = stocked
    cache = SearchCache(size=2)
    for q in ("养老", "步道", "养老", "食堂"):  # 食堂 pushes out 步道, used least recently
        cache.search(store, q, limit=5, offset=0)
    assert len(cache) == 2
    cache.search(store, "养老", limit=5, offset=0)
    cache.search(store, "步道", limit=5, offset=0)
    assert engine_calls == ["养老", "步道", "食堂", "步道"]


def test_the_generation_moves_on_every_story_write_and_on_a_reindex(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    seen = [articles.generation(store)]

    def moved() -> bool:
        g = articles.generation(store)
        changed = g != seen[-1]
        seen.append(g)
        return changed

    aid, _ = articles.save(store, Article(title="河堤步道完成改造", body=["步道铺设了透水砖。"]))
    assert moved()
    articles.save(store, Article(title="河堤步道完成改造", body=["步道铺设了透水砖。"]))
    assert not moved()  # the same text again writes nothing
    articles.update(store, aid, category_override=["社区"])
    assert moved()
    other = open_store(store.path)
    try:
        articles.update(other, aid, title="河堤步道改造完工")
        assert moved()
        rebuild(store, workers=1)
        assert moved()
        articles.delete(other, aid)
        assert moved()
    finally:
        other.close()
    assert seen == sorted(seen)


def test_spacing_does_not_split_the_cache(stocked: Store, engine_calls: list[str]) -> None:
    cache = SearchCache(size=8)
    cache.search(stocked, "养老 服务", limit=5, offset=0)
    assert cache.has("  养老\t 服务 ", 5, 0)  # the webhook's quick test, on the raw text
    cache.search(stocked, "养老   服务", limit=5, offset=0)
    assert engine_calls == ["养老 服务"]


def test_the_answer_is_made_once_and_each_user_keeps_their_own_list(
        seeded: Services, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers import listing

    renders: list[str] = []
    real = listing.render

    def counted(header: str, *args: Any, **kw: Any) -> str:
        renders.append(header)
        return real(header, *args, **kw)

    monkeypatch.setattr(listing, "render", counted)
    replies = [bot.send("养老", user=f"o_list_{i}").render() for i in range(3)]
    assert len(set(replies)) == 1 and len(renders) == 1  # rendered once, for all three
    # the list each user got is theirs: a pick and "更多" work for every one of them
    for i in range(3):
        picked = bot.send("1", user=f"o_list_{i}").text
        assert picked.startswith("【") and "/articles/" in picked
    assert "没有可以翻页" not in bot.send("更多", user="o_list_2").text
    from handlers.search import NO_LIST

    assert bot.send("1", user="o_never_searched").text == NO_LIST  # no list of its own


def test_kept_answers_are_bounded_and_follow_the_stories(stocked: Store) -> None:
    cache = SearchCache(size=2)
    made: list[str] = []

    def make(name: str) -> Any:
        return lambda: made.append(name) or f"answer to {name}"

    for name in ("a", "b", "a", "c", "b"):
        assert cache.answer(stocked, name, make(name)) == f"answer to {name}"
    # a and b made; a used again (so b is the oldest); c pushes b out; b made again
    assert made == ["a", "b", "c", "b"]
    articles.save(stocked, Article(title="新的一篇", body=["正文"], source="cache-new"))
    cache.answer(stocked, "a", make("a"))  # a story changed: everything kept is dropped
    assert made[-1] == "a" and len(made) == 5


def test_on_the_event_loop_the_generations_are_read_once_a_turn(
        stocked: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The search cache and the compiled rules share one read of the store's counters per turn
    of the loop; a story or a rule added by another process shows on the next turn."""
    import asyncio

    from handlers.generations import Counters
    from handlers.rules import RuleCache
    from store import generations
    from store import rules as store_rules

    reads: list[int] = []
    real = generations.read

    def counted(store: Store) -> generations.Generations:
        reads.append(1)
        return real(store)

    monkeypatch.setattr(generations, "read", counted)
    counters = Counters()
    cache, rule_cache = SearchCache(counters=counters), RuleCache(counters)

    async def messages() -> None:
        before = cache.search(stocked, "养老", 5, 0).total
        cache.search(stocked, "步道", 5, 0)
        assert rule_cache.book(stocked).equal == {}
        assert len(reads) == 1  # one turn of the loop, one read for both caches
        elsewhere = open_store(stocked.path)
        articles.save(elsewhere, Article(title="新开的养老驿站", body=["养老驿站开门了。"],
                                         source="cache-turn"))
        store_rules.add(elsewhere, store_rules.Rule(kind="keyword", name="驿站", keywords=[
            store_rules.Keyword("驿站")], replies=[{"type": "text", "content": "在东门"}]),
            "o_admin")
        elsewhere.close()
        assert cache.search(stocked, "养老", 5, 0).total == before  # as of the turn's start
        assert rule_cache.book(stocked).equal == {}
        await asyncio.sleep(0)  # the next turn reads again, and sees the new story and rule
        assert cache.search(stocked, "养老", 5, 0).total == before + 1
        assert list(rule_cache.book(stocked).equal) == ["驿站"]
        assert len(reads) == 2

    asyncio.run(messages())
    cache.search(stocked, "养老", 5, 0)  # off the loop (a worker thread): every lookup reads
    rule_cache.book(stocked)
    assert len(reads) == 4
