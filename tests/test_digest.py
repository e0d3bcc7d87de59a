"""The daily digest over real HTTP to the WeChat emulator: who gets what, exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from digest_support import Rig, add_people, add_stories, delivered

from bot.cli import main
from handlers.base import TEXT_LIMIT
from handlers.digest import preview, run_digest
from handlers.digest_render import Story, customer_service_text, mass_text
from store import articles, pushlog, subscribers
from store.articles import Article


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


def test_each_subscriber_gets_their_categories_once_within_their_window(rig: Rig) -> None:
    add_stories(rig.store, 3)
    people = add_people(rig.store, rig.emu, 300, closed=7, gone=5)

    report = run_digest(rig.store, rig.api, rig.config)

    got = delivered(rig.emu)
    assert set(got) == set(people.inside)
    assert set(got.values()) == {1}
    for d in rig.emu.deliveries:
        cats = people.cats[d["openid"]]
        assert ("【党建】" in d["content"]) == ("党建" in cats)
        assert ("【社区】" in d["content"]) == ("社区" in cats)
        assert len(d["content"].encode("utf-8")) <= TEXT_LIMIT
        assert "/articles/" in d["content"]
    assert report.status == "done"
    assert report.sent == len(people.inside)
    assert report.skipped == {
        "out_of_window": len(people.outside) + len(people.closed),
        "not_following": len(people.gone),
    }
    assert report.failed == {}
    # 45015 / 43004 users were each tried once; the out-of-window ones never
    stats = rig.emu.stats()
    assert stats["errors:45015"] == len(people.closed)
    assert stats["errors:43004"] == len(people.gone)
    assert stats["calls:message/custom/send"] == len(people.inside) + 12
    # the platform said they left: they are no longer subscribers
    assert all(not subscribers.get(rig.store, o).following for o in people.gone)  # type: ignore[union-attr]

    again = run_digest(rig.store, rig.api, rig.config)
    assert again.status == "empty"
    assert rig.emu.stats()["calls:message/custom/send"] == stats["calls:message/custom/send"]
    assert delivered(rig.emu) == got


def test_no_new_stories_sends_nothing_and_says_so(rig: Rig) -> None:
    add_people(rig.store, rig.emu, 10)
    report = run_digest(rig.store, rig.api, rig.config)
    assert report.status == "empty"
    assert "没有新闻" in report.summary()
    assert rig.emu.deliveries == []
    d = pushlog.latest(rig.store)
    assert d is not None and d.status == "empty" and d.report["note"] == "no new stories"


def test_an_empty_preview_says_since_when_or_that_none_went_out(rig: Rig) -> None:
    add_people(rig.store, rig.emu, 3)
    assert preview(rig.store, rig.config).summary() == "没有可推送的新闻（还没有推送过），不会推送。"
    add_stories(rig.store, 1)
    assert run_digest(rig.store, rig.api, rig.config).status == "done"
    plan = preview(rig.store, rig.config)
    from handlers.clock import shown

    assert plan.since and plan.summary() == f"没有新闻（自 {shown(plan.since, rig.config)} 以来），不会推送。"
    assert "+00:00" not in plan.summary()


def test_only_stories_added_since_the_last_digest_go_out(rig: Rig) -> None:
    add_stories(rig.store, 2, tag="甲")
    people = add_people(rig.store, rig.emu, 6)
    run_digest(rig.store, rig.api, rig.config)
    first = len(rig.emu.deliveries)
    add_stories(rig.store, 1, tag="乙")
    report = run_digest(rig.store, rig.api, rig.config)
    assert report.status == "done" and report.stories == 2
    second = rig.emu.deliveries[first:]
    assert {d["openid"] for d in second} == set(people.inside)
    assert all("乙" in d["content"] and "甲" not in d["content"] for d in second)


def test_token_expiry_mid_push_recovers_with_one_refresh(rig: Rig) -> None:
    add_stories(rig.store, 2)
    people = add_people(rig.store, rig.emu, 200)
    expired: list[int] = []

    def progress(done: int, total: int) -> None:
        if done >= 60 and not expired:
            rig.emu.expire_tokens()  # every token now answers 42001
            expired.append(done)

    report = run_digest(rig.store, rig.api, rig.config, progress=progress)

    assert expired
    assert rig.emu.token_fetches == 2  # the first token, and one refresh for all threads
    assert report.sent == len(people.inside) and report.failed == {}
    assert set(delivered(rig.emu).values()) == {1}


@pytest.mark.parametrize("custom_clientmsgid", [False, True], ids=["wechat", "dedup-on"])
def test_busy_answers_and_timeouts_are_retried(tmp_path: Path, custom_clientmsgid: bool) -> None:
    """Everyone gets the digest. On WeChat (no clientmsgid on customer-service messages) a
    call whose answer was lost is sent again: its subscriber may get it twice, nobody else;
    where the platform honours clientmsgid, nobody does."""
    rig = Rig(tmp_path, api_kw={"timeout": 0.5, "backoff": 0.01},
              custom_clientmsgid=custom_clientmsgid)
    try:
        add_stories(rig.store, 1)
        people = add_people(rig.store, rig.emu, 60)
        busy = rig.emu.inject("error", "message/custom/send", count=15, errcode=-1)
        lost = rig.emu.inject("timeout", "message/custom/send", count=3, seconds=2)
        # the nastiest case: the message went out, only the answer was lost
        late = rig.emu.inject("timeout", "message/custom/send", count=3, seconds=2, after=True)

        report = run_digest(rig.store, rig.api, rig.config)

        assert busy.fired == 15 and lost.fired == 3 and late.fired == 3
        assert report.sent == len(people.inside) and report.failed == {}
        got = delivered(rig.emu)
        assert set(got) == set(people.inside) and min(got.values()) == 1
        repeats = sum(n - 1 for n in got.values())
        assert repeats == (0 if custom_clientmsgid else late.fired)
    finally:
        rig.close()


def test_failures_that_outlast_the_retries_are_reported_and_retried_next_run(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, api_kw={"retries": 1, "backoff": 0.01},
              env={"NEWSBOT_DIGEST_CONCURRENCY": "1"})
    try:
        add_stories(rig.store, 1)
        people = add_people(rig.store, rig.emu, 30)
        rig.emu.inject("error", "message/custom/send", count=10, errcode=-1)

        first = run_digest(rig.store, rig.api, rig.config)
        assert first.status == "failed"
        assert sum(first.failed.values()) == 5  # 10 busy answers, two tries per message
        assert "失败" in first.summary()
        second = run_digest(rig.store, rig.api, rig.config)

        assert [r.status for r in second.resumed] == ["done"]
        assert second.status == "empty"  # nothing new besides the retried rows
        got = delivered(rig.emu)
        assert set(got) == set(people.inside) and set(got.values()) == {1}
    finally:
        rig.close()


def test_preview_says_who_gets_what_and_changes_nothing(rig: Rig) -> None:
    add_stories(rig.store, 2)
    people = add_people(rig.store, rig.emu, 21)
    plan = preview(rig.store, rig.config)
    sends = {r.openid for r in plan.recipients if r.action == "send"}
    assert sends == set(people.inside)
    skipped = {r.openid: r.reason for r in plan.recipients if r.action == "skip"}
    assert skipped == dict.fromkeys(people.outside, "out_of_window")
    assert set(plan.texts) == {"党建", "社区", "党建,社区"}
    assert "将发送 18，跳过 3" in plan.summary()
    assert pushlog.latest(rig.store) is None and rig.emu.deliveries == []


def test_texts_stay_within_the_limit_and_point_to_the_rest() -> None:
    long = "关于进一步加强和改进城市社区党建工作的若干措施出台" * 2
    stories = {
        c: [Story(i, f"{long}{i}", f"http://news.example/articles/{i}", (c,)) for i in ids]
        for c, ids in (("党建", range(8)), ("社区", range(8, 16)))
    }
    text = customer_service_text(stories, ["党建", "社区"])
    assert len(text.encode("utf-8")) <= TEXT_LIMIT
    assert "回复“今日党建”" in text and "另有" in text
    assert text.count("<a href=") == text.count("</a>")  # no link cut in half
    mass = mass_text(stories, "社区")
    # dated the day it goes out, the stories called newly added (not 今日 news), counted
    assert len(mass.encode("utf-8")) <= TEXT_LIMIT and "新收录社区报道 8 篇" in mass
    assert mass.startswith(f"{date.today().month}月{date.today().day}日")


def test_a_story_with_its_own_url_links_there(rig: Rig) -> None:
    articles.save(rig.store, Article(title="社区食堂开张", body=["居民们在小区里吃上了热饭。"],
                                     categories=["社区"], url="https://news.example/canteen"))
    people = add_people(rig.store, rig.emu, 3)
    run_digest(rig.store, rig.api, rig.config)
    contents = {d["openid"]: d["content"] for d in rig.emu.deliveries}
    assert contents and all("https://news.example/canteen" in c for c in contents.values())
    assert set(contents) == {o for o in people.inside if "社区" in people.cats[o]}


# -- the mass channel ------------------------------------------------------------------------------
def mass_rig(tmp_path: Path, account_type: str = "subscription") -> Rig:
    return Rig(tmp_path, extra='\n[digest]\nchannel = "mass"\n', account_type=account_type,
               env={"NEWSBOT_WECHAT_ACCOUNT_TYPE": account_type})


def test_mass_channel_tags_subscribers_and_sends_once_a_day(tmp_path: Path) -> None:
    rig = mass_rig(tmp_path)
    try:
        add_stories(rig.store, 2)
        people = add_people(rig.store, rig.emu, 30)
        report = run_digest(rig.store, rig.api, rig.config)

        tags = {t["name"]: t["id"] for t in rig.api.get_tags()}
        assert set(tags) == {"newsbot-党建"}  # only the category that goes out today
        users = {u["openid"]: u["tags"] for u in rig.emu.users()}
        for o, cats in people.cats.items():
            assert (tags["newsbot-党建"] in users[o]) == ("党建" in cats)
        # one send a day: 党建 went out, 社区 was skipped without a call
        got = delivered(rig.emu, "mass")
        assert set(got) == {o for o, c in people.cats.items() if "党建" in c}
        assert set(got.values()) == {1}
        assert report.sent == 1 and report.skipped == {"mass_quota": 1}
        assert rig.emu.stats().get("errors:45028", 0) == 0  # the second was never tried
        assert rig.emu.stats()["calls:message/mass/sendall"] == 1

        add_stories(rig.store, 1, tag="次")
        later = run_digest(rig.store, rig.api, rig.config)
        assert later.sent == 0 and later.skipped == {"mass_quota": 2}
        assert rig.emu.stats()["calls:message/mass/sendall"] == 1
    finally:
        rig.close()


def test_mass_quota_used_elsewhere_is_reported_not_retried(tmp_path: Path) -> None:
    rig = mass_rig(tmp_path)
    try:
        add_stories(rig.store, 1)
        add_people(rig.store, rig.emu, 9)
        rig.api.mass_send_text("今日的群发已在后台发过了。")  # as if sent from the console
        before = len(rig.emu.deliveries)
        report = run_digest(rig.store, rig.api, rig.config)
        assert report.skipped == {"mass_quota": 2} and report.sent == 0
        assert rig.emu.stats()["errors:45028"] == 1  # tried once, then not again
        run_digest(rig.store, rig.api, rig.config)
        assert rig.emu.stats()["errors:45028"] == 1
        assert len(rig.emu.deliveries) == before
    finally:
        rig.close()


def test_service_account_sends_one_mass_per_category(tmp_path: Path) -> None:
    rig = mass_rig(tmp_path, account_type="service")
    try:
        add_stories(rig.store, 1)
        people = add_people(rig.store, rig.emu, 12)
        report = run_digest(rig.store, rig.api, rig.config)
        assert report.sent == 2
        got = delivered(rig.emu, "mass")
        both = {o for o, c in people.cats.items() if len(c) == 2}
        assert all(got[o] == (2 if o in both else 1) for o in people.cats)
    finally:
        rig.close()


# -- the command line ------------------------------------------------------------------------------
def test_cli_preview_send_status(rig: Rig) -> None:
    add_stories(rig.store, 1)
    people = add_people(rig.store, rig.emu, 8)
    cfg = str(rig.config.path)
    env = {"NEWSBOT_WECHAT_API_BASE_URL": rig.url}
    runner = CliRunner()

    out = runner.invoke(main, ["--config", cfg, "digest", "preview", "--limit", "0"], env=env)
    assert out.exit_code == 0, out.output
    assert f"send  {people.inside[0]}" in out.output and "48 小时内未互动" in out.output
    assert rig.emu.deliveries == []

    out = runner.invoke(main, ["--config", cfg, "digest", "send", "--no-progress"], env=env)
    assert out.exit_code == 0, out.output
    assert f"发送 {len(people.inside)}/8" in out.output
    assert set(delivered(rig.emu)) == set(people.inside)

    out = runner.invoke(main, ["--config", cfg, "digest", "send", "--json"], env=env)
    assert out.exit_code == 0 and json.loads(out.output)["status"] == "empty"

    out = runner.invoke(main, ["--config", cfg, "digest", "status"], env=env)
    assert out.exit_code == 0
    assert "done" in out.output and "empty" in out.output and "out_of_window 1" in out.output


def test_cli_preview_without_subscribers_says_how_they_come(rig: Rig) -> None:
    add_stories(rig.store, 1)
    out = CliRunner().invoke(main, ["--config", str(rig.config.path), "digest", "preview"],
                             env={"NEWSBOT_WECHAT_API_BASE_URL": rig.url})
    assert out.exit_code == 0, out.output
    assert "recipients: none yet (users subscribe by sending 订阅" in out.output


def test_cli_send_reports_failures_with_exit_code(rig: Rig) -> None:
    add_stories(rig.store, 1)
    add_people(rig.store, rig.emu, 3)
    rig.emu.inject("error", "message/custom/send", errcode=40003)  # refused for good
    out = CliRunner().invoke(
        main, ["--config", str(rig.config.path), "digest", "send", "--no-progress"],
        env={"NEWSBOT_WECHAT_API_BASE_URL": rig.url},
    )
    assert out.exit_code == 1
    assert "40003" in out.output and "Traceback" not in out.output


def test_a_push_stops_early_when_wechat_is_down_and_the_next_run_finishes_it(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, api_kw={"retries": 0}, env={"NEWSBOT_DIGEST_CONCURRENCY": "2"})
    try:
        add_stories(rig.store, 1)
        people = add_people(rig.store, rig.emu, 120)
        busy = rig.emu.inject("error", "message/custom/send", errcode=-1)  # busy, until cleared
        first = run_digest(rig.store, rig.api, rig.config)
        assert first.status == "failed" and first.sent == 0
        assert first.left > 0 and "提前停止" in first.summary()
        assert busy.fired < len(people.inside)  # it did not grind through every subscriber
        rig.emu.clear_faults()
        second = run_digest(rig.store, rig.api, rig.config)
        assert [r.status for r in second.resumed] == ["done"]
        got = delivered(rig.emu)
        assert set(got) == set(people.inside) and set(got.values()) == {1}
    finally:
        rig.close()
