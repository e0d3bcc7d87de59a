"""The outbound client against the local WeChat, over real HTTP."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.emulator import Emulator
from bot.state.sqlite import SQLiteState
from bot.wxapi import (
    ApiUnavailable,
    NotFollowing,
    OutOfWindow,
    QuotaExceeded,
    TokenError,
    WeChatAPI,
    WeChatAPIError,
)
from tests.conftest import write_config


@pytest.fixture
def state(tmp_path: Path) -> Iterator[SQLiteState]:
    s = SQLiteState(tmp_path / "shared-state.db")
    yield s
    s.close()


@pytest.fixture
def api(config: Config, emulator: Emulator, state: SQLiteState) -> Iterator[WeChatAPI]:
    a = WeChatAPI(config, state, backoff=0.01, timeout=2.0)
    yield a
    a.close()


def test_the_token_is_fetched_once_and_shared(config: Config, emulator: Emulator,
                                              state: SQLiteState) -> None:
    emulator.user_spoke("o_a")
    one, two = WeChatAPI(config, state), WeChatAPI(config, state)
    one.send_text("o_a", "一")
    two.send_text("o_a", "二")
    assert one.token() == two.token()
    assert emulator.token_fetches == 1
    assert emulator.stats()["calls:stable_token"] == 1
    assert [d["content"] for d in emulator.deliveries] == ["一", "二"]


def test_threads_starting_together_fetch_one_token(config: Config, emulator: Emulator,
                                                   state: SQLiteState) -> None:
    apis = [WeChatAPI(config, state) for _ in range(8)]
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda a=a: tokens.append(a.token())) for a in apis]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1 and len(tokens) == 8
    assert emulator.token_fetches == 1


def test_two_processes_share_one_token(tmp_path: Path, emulator: Emulator,
                                       config: Config) -> None:
    cfg_file = write_config(tmp_path, "")
    for o in ("o_p0", "o_p1"):
        emulator.user_spoke(o)
    script = textwrap.dedent(f"""
        import sys
        from bot.config import load_config
        from bot.state.sqlite import SQLiteState
        from bot.wxapi import WeChatAPI
        cfg = load_config({str(cfg_file)!r}, env={{}})
        cfg.values["wechat"]["api_base_url"] = {emulator.url!r}
        api = WeChatAPI(cfg, SQLiteState({str(tmp_path / "state.db")!r}))
        api.send_text("o_p" + sys.argv[1], "来自进程" + sys.argv[1])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], cwd=tmp_path)
             for i in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert emulator.token_fetches == 1
    assert sorted(d["content"] for d in emulator.deliveries) == ["来自进程0", "来自进程1"]


def test_expiry_mid_use_recovers_with_one_refresh(api: WeChatAPI, emulator: Emulator) -> None:
    for i in range(16):
        emulator.user_spoke(f"o_{i}")
    api.send_text("o_0", "before")
    emulator.advance(7201)  # the cached token is dead now
    errors: list[Exception] = []

    def send(i: int) -> None:
        try:
            api.send_text(f"o_{i}", "after")
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert emulator.token_fetches == 2
    assert sum(d["content"] == "after" for d in emulator.deliveries) == 16


def test_the_retry_after_a_refresh_uses_the_new_token_whatever_the_memo_says(
    api: WeChatAPI, emulator: Emulator
) -> None:
    emulator.user_spoke("o_a")
    api.send_text("o_a", "before")
    old = api.token()
    emulator.expire_tokens()  # every token now answers 42001
    refresh = api._refresh

    def refresh_then_a_slow_reader_puts_the_old_token_back(stale: str | None) -> str:
        new = refresh(stale=stale)
        api._remember(old)  # another thread read the shared token before the refresh stored it
        return new

    api._refresh = refresh_then_a_slow_reader_puts_the_old_token_back  # type: ignore[method-assign]
    api.send_text("o_a", "after")
    assert [d["content"] for d in emulator.deliveries] == ["before", "after"]
    assert emulator.token_fetches == 2


def test_a_replaced_token_is_refreshed_once(api: WeChatAPI, emulator: Emulator,
                                            config: Config) -> None:
    emulator.user_spoke("o_a")
    api.send_text("o_a", "一")
    # someone else forces a new stable token: ours is refused at once (40001)
    import httpx

    httpx.post(f"{emulator.url}/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": config.wechat["appid"],
        "secret": config.wechat["appsecret"], "force_refresh": True})
    api.send_text("o_a", "二")
    assert [d["content"] for d in emulator.deliveries] == ["一", "二"]
    assert emulator.stats()["errors:40001"] == 1


def test_a_token_refused_twice_is_an_error_not_a_loop(api: WeChatAPI,
                                                      emulator: Emulator) -> None:
    emulator.user_spoke("o_a")
    refused = emulator.inject("error", "message/custom/send", errcode=40001)
    with pytest.raises(TokenError):
        api.send_text("o_a", "x")
    assert refused.fired == 2


def test_busy_and_dropped_calls_are_retried(api: WeChatAPI, emulator: Emulator) -> None:
    emulator.user_spoke("o_a")
    busy = emulator.inject("error", "message/custom/send", count=2)
    api.send_text("o_a", "一")
    dropped = emulator.inject("drop", "message/custom/send", count=1)
    api.send_text("o_a", "二")
    assert busy.fired == 2 and dropped.fired == 1
    assert [d["content"] for d in emulator.deliveries] == ["一", "二"]


def test_timeouts_are_retried(config: Config, emulator: Emulator, state: SQLiteState) -> None:
    emulator.user_spoke("o_a")
    api = WeChatAPI(config, state, timeout=0.3, backoff=0.01)
    slow = emulator.inject("timeout", "message/custom/send", count=2, seconds=3)
    api.send_text("o_a", "终于")
    assert slow.fired == 2
    assert [d["content"] for d in emulator.deliveries] == ["终于"]


def test_busy_beyond_the_retries_is_api_unavailable(api: WeChatAPI,
                                                    emulator: Emulator) -> None:
    emulator.user_spoke("o_a")
    busy = emulator.inject("error", "message/custom/send")
    with pytest.raises(ApiUnavailable):
        api.send_text("o_a", "x")
    assert busy.fired == api.retries + 1
    assert emulator.deliveries == []


def test_an_unreachable_api_is_api_unavailable(config: Config, state: SQLiteState) -> None:
    from tests.conftest import free_port

    config.values["wechat"]["api_base_url"] = f"http://127.0.0.1:{free_port()}"
    api = WeChatAPI(config, state, retries=1, backoff=0.01)
    with pytest.raises(ApiUnavailable, match="cannot fetch an access_token"):
        api.send_text("o_a", "x")


def test_window_and_follow_errors_are_mapped_and_not_retried(api: WeChatAPI,
                                                             emulator: Emulator) -> None:
    emulator.follow("o_quiet")
    with pytest.raises(OutOfWindow) as out:
        api.send_text("o_quiet", "x")
    assert out.value.errcode == 45015
    emulator.user_spoke("o_gone")
    emulator.unfollow("o_gone")
    with pytest.raises(NotFollowing):
        api.send_text("o_gone", "x")
    assert emulator.stats()["calls:message/custom/send"] == 2
    emulator.user_spoke("o_talkative")
    for _ in range(5):
        api.send_text("o_talkative", "x")
    with pytest.raises(OutOfWindow) as over:
        api.send_text("o_talkative", "x")
    assert over.value.errcode == 45047


def test_wrong_credentials_are_a_token_error(config: Config, emulator: Emulator,
                                             state: SQLiteState) -> None:
    config.values["wechat"]["appsecret"] = "wrong"
    api = WeChatAPI(config, state)
    with pytest.raises(TokenError, match="40125"):
        api.token()


def test_articles_mass_sends_and_their_quota(api: WeChatAPI, emulator: Emulator) -> None:
    emulator.user_spoke("o_a")
    api.send_article("o_a", "标题", "摘要", "http://127.0.0.1/a/1")
    assert emulator.deliveries[-1]["articles"][0]["url"] == "http://127.0.0.1/a/1"
    emulator.follow("o_b")
    sent = api.mass_send_text("今日摘要", clientmsgid="digest-7")
    again = api.mass_send_text("今日摘要", clientmsgid="digest-7")
    assert again["duplicate"] is True and again["msg_id"] == sent["msg_id"]
    with pytest.raises(QuotaExceeded) as quota:
        api.mass_send_text("再来一条")
    assert quota.value.errcode == 45028
    with pytest.raises(WeChatAPIError) as refused:  # a list of openids: service accounts only
        api.mass_send_text_to(["o_a", "o_b"], "再来一条")
    assert refused.value.errcode == 48001
    assert sum(d["channel"] == "mass" for d in emulator.deliveries) == 2


def test_tags_followers_and_user_info(api: WeChatAPI, emulator: Emulator) -> None:
    openids = [f"o_{i:03d}" for i in range(120)]
    for o in openids:
        emulator.follow(o)
    tag = api.create_tag("党建")
    api.tag_users(tag, openids)
    assert emulator.stats()["calls:tags/members/batchtagging"] == 3
    assert api.get_tags() == [{"id": tag, "name": "党建", "count": 120}]
    page = api.get_followers()
    assert page["total"] == 120 and page["data"]["openid"][:2] == ["o_000", "o_001"]
    assert api.user_info("o_007")["tagid_list"] == [tag]
    with pytest.raises(WeChatAPIError) as bad:
        api.create_tag("党建")
    assert bad.value.errcode == 45157


def test_the_service_gets_the_client(tmp_path: Path) -> None:
    from bot.app import build_services

    services = build_services(load_config(write_config(tmp_path), env={}))
    try:
        assert isinstance(services.api, WeChatAPI)
        assert services.late_reply is not None
    finally:
        services.close()
