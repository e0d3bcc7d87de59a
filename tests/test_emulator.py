"""The local WeChat holds newsbot to the platform's rules, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.emulator import Emulator

APPID, SECRET = "wxemulatortest001", "emulator-secret"
MORNING = 1740967200.0  # 2025-03-03 10:00 Beijing time; the emulator's time moves by advance()


class Api:
    """Raw calls to the emulator, as WeChat's documentation describes them."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.http = httpx.Client(base_url=emu.url or "", timeout=10)
        self.access_token = ""

    def token(self, secret: str = SECRET) -> dict[str, Any]:
        return self.http.get("/cgi-bin/token", params={
            "grant_type": "client_credential", "appid": APPID, "secret": secret}).json()

    def stable(self, force: bool = False) -> dict[str, Any]:
        return self.http.post("/cgi-bin/stable_token", json={
            "grant_type": "client_credential", "appid": APPID, "secret": SECRET,
            "force_refresh": force}).json()

    def login(self) -> str:
        self.access_token = self.stable()["access_token"]
        return self.access_token

    def post(self, endpoint: str, body: dict[str, Any], token: str | None = None) -> dict:
        t = self.access_token if token is None else token
        return self.http.post(f"/cgi-bin/{endpoint}", params={"access_token": t},
                              json=body).json()

    def get(self, endpoint: str, **params: str) -> dict:
        return self.http.get(f"/cgi-bin/{endpoint}",
                             params={"access_token": self.access_token, **params}).json()

    def text(self, openid: str, content: str = "早上好", **extra: Any) -> dict:
        return self.post("message/custom/send", {
            "touser": openid, "msgtype": "text", "text": {"content": content}, **extra})

    def mass(self, content: str = "今日摘要", **extra: Any) -> dict:
        return self.post("message/mass/sendall", {
            "filter": {"is_to_all": True}, "msgtype": "text", "text": {"content": content},
            **extra})


def _emulator(tmp_path: Path, **kw: Any) -> Iterator[Api]:
    emu = Emulator(APPID, SECRET, log_path=tmp_path / "deliveries.log", clock=lambda: MORNING,
                   **kw)
    emu.start()
    api = Api(emu)
    try:
        yield api
    finally:
        api.http.close()
        emu.stop()


@pytest.fixture
def wx(tmp_path: Path) -> Iterator[Api]:
    yield from _emulator(tmp_path)


@pytest.fixture
def service_wx(tmp_path: Path) -> Iterator[Api]:
    yield from _emulator(tmp_path, account_type="service")


def codes(results: list[dict]) -> list[int]:
    return [r.get("errcode", 0) for r in results]


# -- tokens ----------------------------------------------------------------------------------
def test_token_needs_the_right_credentials(wx: Api) -> None:
    assert wx.token(secret="wrong")["errcode"] == 40125
    got = wx.token()
    assert got["expires_in"] == 7200 and got["access_token"]


def test_a_new_token_replaces_the_old_one_after_five_minutes(wx: Api) -> None:
    first = wx.token()["access_token"]
    wx.emu.follow("o_a")
    wx.emu.user_spoke("o_a")
    second = wx.token()["access_token"]
    assert second != first
    assert wx.post("message/custom/send", _text("o_a"), token=first)["errcode"] == 0
    wx.emu.advance(301)
    assert wx.post("message/custom/send", _text("o_a"), token=first)["errcode"] == 40001
    assert wx.post("message/custom/send", _text("o_a"), token=second)["errcode"] == 0
    assert wx.emu.token_fetches == 2


def _text(openid: str, content: str = "你好") -> dict[str, Any]:
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


def test_a_token_expires_after_two_hours(wx: Api) -> None:
    token = wx.login()
    assert wx.get("tags/get")["tags"] == []
    wx.emu.advance(7200)
    assert wx.get("tags/get")["errcode"] == 42001
    assert wx.get("tags/get", access_token="")["errcode"] == 41001
    assert wx.get("tags/get", access_token="not-a-token")["errcode"] == 40014
    assert token


def test_stable_token_is_reused_while_valid_and_renewed_five_minutes_before_expiry(
        wx: Api) -> None:
    first = wx.stable()
    again = wx.stable()
    assert again["access_token"] == first["access_token"]
    assert wx.emu.token_fetches == 1
    wx.emu.advance(7200 - 301)
    assert wx.stable()["access_token"] == first["access_token"]
    wx.emu.advance(2)
    renewed = wx.stable()
    assert renewed["access_token"] != first["access_token"]
    assert renewed["expires_in"] == 7200
    assert wx.emu.token_fetches == 2


def test_stable_token_force_refresh_is_limited_to_once_every_30_seconds(wx: Api) -> None:
    first = wx.stable()["access_token"]
    forced = wx.stable(force=True)["access_token"]
    assert forced != first
    # the replaced token dies at once
    assert wx.get("tags/get", access_token=first)["errcode"] == 40001
    assert wx.get("tags/get", access_token=forced)["tags"] == []
    assert wx.stable(force=True)["errcode"] == 45011
    wx.emu.advance(31)
    assert wx.stable(force=True)["access_token"] not in (first, forced)


def test_two_thousand_token_fetches_a_day_and_stable_token_counts_apart(wx: Api) -> None:
    wx.emu.account.token_days[_day(wx)] = 1999  # the day's earlier fetches
    assert "access_token" in wx.token()
    assert wx.token()["errcode"] == 45009
    assert "access_token" in wx.stable()  # its own count (500,000 calls a day)
    wx.emu.account.stable_days[_day(wx)] = 500_000
    assert wx.stable()["errcode"] == 45009
    wx.emu.advance(86400)
    assert "access_token" in wx.token()
    assert "access_token" in wx.stable()


def _day(wx: Api) -> int:
    from bot.emulator.rules import day_of

    return day_of(wx.emu.now())


# -- customer-service messages ---------------------------------------------------------------
def test_the_48_hour_window_and_its_budget_of_five(wx: Api) -> None:
    wx.login()
    wx.emu.follow("o_a")
    assert wx.text("o_a")["errcode"] == 45015  # follows, never spoke
    wx.emu.user_spoke("o_a")
    assert codes([wx.text("o_a", f"第{i}条") for i in range(6)]) == [0, 0, 0, 0, 0, 45047]
    wx.emu.user_spoke("o_a")  # a new message: a new budget
    assert wx.text("o_a")["errcode"] == 0
    wx.emu.advance(48 * 3600 + 1)
    wx.login()
    assert wx.text("o_a")["errcode"] == 45015
    assert len(wx.emu.deliveries) == 6


def test_a_menu_click_allows_three_messages_within_a_minute(wx: Api) -> None:
    wx.login()
    wx.emu.follow("o_b")
    wx.emu.user_event("o_b")
    assert codes([wx.text("o_b") for _ in range(4)]) == [0, 0, 0, 45047]
    wx.emu.user_event("o_b")
    wx.emu.advance(61)
    assert wx.text("o_b")["errcode"] == 45015


def test_unfollowed_and_unknown_users(wx: Api) -> None:
    wx.login()
    wx.emu.user_spoke("o_gone")
    wx.emu.unfollow("o_gone")
    assert wx.text("o_gone")["errcode"] == 43004
    assert wx.text("o_never_seen")["errcode"] == 40003


def test_message_limits(wx: Api) -> None:
    wx.login()
    wx.emu.user_spoke("o_a")
    assert wx.text("o_a", "长" * 683)["errcode"] == 45002  # 2049 bytes
    assert wx.text("o_a", "长" * 682)["errcode"] == 0
    two = {"touser": "o_a", "msgtype": "news", "news": {"articles": [
        {"title": "一", "url": "http://127.0.0.1/1"}, {"title": "二", "url": "http://127.0.0.1/2"}]}}
    assert wx.post("message/custom/send", two)["errcode"] == 45008
    two["news"]["articles"].pop()
    assert wx.post("message/custom/send", two)["errcode"] == 0
    assert wx.emu.deliveries[-1]["articles"][0]["title"] == "一"


def test_custom_send_ignores_clientmsgid_as_wechat_does(wx: Api) -> None:
    wx.login()
    wx.emu.user_spoke("o_a")
    first = wx.text("o_a", clientmsgid="digest-1:o_a")
    again = wx.text("o_a", clientmsgid="digest-1:o_a")
    assert first == again == {"errcode": 0, "errmsg": "ok"}
    assert len(wx.emu.deliveries) == 2


def test_custom_send_clientmsgid_delivers_once_when_switched_on(tmp_path: Path) -> None:
    for wx in _emulator(tmp_path, custom_clientmsgid=True):
        wx.login()
        wx.emu.user_spoke("o_a")
        first = wx.text("o_a", clientmsgid="digest-1:o_a")
        again = wx.text("o_a", clientmsgid="digest-1:o_a")
        assert first["errcode"] == 0
        assert again == {"errcode": 0, "errmsg": "ok", "duplicate": True}
        assert len(wx.emu.deliveries) == 1


# -- mass sends ------------------------------------------------------------------------------
def test_subscription_account_gets_one_mass_send_a_day(wx: Api) -> None:
    wx.login()
    for o in ("o_1", "o_2", "o_3"):
        wx.emu.follow(o)
    wx.emu.unfollow("o_3")
    sent = wx.mass(clientmsgid="day-1")
    assert sent["errcode"] == 0
    assert sorted(d["openid"] for d in wx.emu.deliveries) == ["o_1", "o_2"]
    repeat = wx.mass(clientmsgid="day-1")
    assert repeat["errcode"] == 45065 and repeat["msg_id"] == sent["msg_id"]
    assert wx.mass("另一条")["errcode"] == 45028
    # sending to a list of openids is for (certified) service accounts
    assert wx.post("message/mass/send", {"touser": ["o_1", "o_2"], "msgtype": "text",
                                         "text": {"content": "x"}})["errcode"] == 48001
    assert len(wx.emu.deliveries) == 2
    wx.emu.advance(86400)
    wx.login()
    assert wx.mass("第二天")["errcode"] == 0
    assert len(wx.emu.deliveries) == 4


def test_service_account_users_receive_four_mass_messages_a_month(service_wx: Api) -> None:
    wx = service_wx
    wx.login()
    wx.emu.follow("o_1")
    wx.emu.follow("o_2")
    for i in range(5):
        assert wx.mass(f"第{i}次")["errcode"] == 0
    per_user = [sum(d["openid"] == o for d in wx.emu.deliveries) for o in ("o_1", "o_2")]
    assert per_user == [4, 4]


def test_mass_send_to_a_list_and_to_a_tag(service_wx: Api) -> None:
    wx = service_wx
    wx.login()
    for o in ("o_1", "o_2", "o_3"):
        wx.emu.follow(o)
    one = {"touser": ["o_1"], "msgtype": "text", "text": {"content": "x"}}
    assert wx.post("message/mass/send", one)["errcode"] == 40130
    assert wx.post("message/mass/send", {**one, "touser": ["o_1", "o_2"]})["errcode"] == 0
    tag = wx.post("tags/create", {"tag": {"name": "党建"}})["tag"]["id"]
    assert wx.post("tags/create", {"tag": {"name": "党建"}})["errcode"] == 45157
    assert wx.post("tags/members/batchtagging", {"tagid": tag, "openid_list": ["o_3"]}) == {
        "errcode": 0, "errmsg": "ok"}
    wx.post("message/mass/sendall", {"filter": {"is_to_all": False, "tag_id": tag},
                                     "msgtype": "text", "text": {"content": "党建摘要"}})
    assert [(d["openid"], d["tag_id"]) for d in wx.emu.deliveries if d["content"] == "党建摘要"] \
        == [("o_3", tag)]
    assert wx.get("tags/get")["tags"] == [{"id": tag, "name": "党建", "count": 1}]
    mp = {"filter": {"is_to_all": True}, "msgtype": "mpnews", "mpnews": {"media_id": "x"}}
    assert wx.post("message/mass/sendall", mp)["errcode"] == 40007


def test_mass_calls_are_limited_to_60_a_minute(service_wx: Api) -> None:
    wx = service_wx
    wx.login()
    wx.emu.follow("o_1")
    got = codes([wx.mass(f"{i}") for i in range(61)])
    assert got[:60] == [0] * 60 and got[60] == 45011
    wx.emu.advance(60)
    assert wx.mass("下一分钟")["errcode"] == 0


def test_tagging_takes_at_most_50_users_a_call(wx: Api) -> None:
    wx.login()
    for i in range(51):
        wx.emu.follow(f"o_{i}")
    tag = wx.post("tags/create", {"tag": {"name": "社区"}})["tag"]["id"]
    many = [f"o_{i}" for i in range(51)]
    assert wx.post("tags/members/batchtagging",
                   {"tagid": tag, "openid_list": many})["errcode"] == 40032
    assert wx.post("tags/members/batchtagging",
                   {"tagid": tag, "openid_list": many[:50]})["errcode"] == 0
    assert wx.post("tags/members/batchtagging",
                   {"tagid": 9999, "openid_list": many[:1]})["errcode"] == 45159


def test_followers_and_user_info(wx: Api) -> None:
    wx.login()
    wx.emu.follow("o_1")
    wx.emu.follow("o_2")
    wx.emu.unfollow("o_2")
    assert wx.get("user/get") == {"total": 1, "count": 1, "next_openid": "o_1",
                                  "data": {"openid": ["o_1"]}}
    assert wx.get("user/info", openid="o_1")["subscribe"] == 1
    assert wx.get("user/info", openid="o_2")["subscribe"] == 0
    assert wx.get("user/info", openid="o_x")["errcode"] == 40003


def test_menu_is_stored_and_returned(wx: Api) -> None:
    wx.login()
    assert wx.get("menu/get")["errcode"] == 46003
    menu = {"button": [{"type": "click", "name": "最新党建", "key": "LATEST_DANGJIAN"},
                       {"name": "更多", "sub_button": [
                           {"type": "view", "name": "官网", "url": "https://example.org/"}]}]}
    assert wx.post("menu/create", menu)["errcode"] == 0
    assert wx.get("menu/get") == {"menu": {"button": [  # every button lists its sub buttons
        {**menu["button"][0], "sub_button": []},
        {"name": "更多", "sub_button": [{**menu["button"][1]["sub_button"][0],
                                         "sub_button": []}]}]}}
    four = {"button": [{"type": "click", "name": f"b{i}", "key": "K"} for i in range(4)]}
    assert wx.post("menu/create", four)["errcode"] == 40016
    assert wx.post("menu/create", {"button": [{"type": "click", "name": "x"}]})["errcode"] == 40019


# -- faults ----------------------------------------------------------------------------------
def test_injected_busy_errors_by_endpoint_and_count(wx: Api) -> None:
    wx.login()
    wx.emu.user_spoke("o_a")
    busy = wx.emu.inject("error", "message/custom/send", count=2)
    assert wx.get("tags/get")["tags"] == []  # another endpoint is unaffected
    assert codes([wx.text("o_a") for _ in range(3)]) == [-1, -1, 0]
    assert busy.fired == 2 and len(wx.emu.deliveries) == 1


def test_injected_errors_by_probability_are_reproducible(tmp_path: Path) -> None:
    runs = []
    for _ in range(2):
        emu = Emulator(APPID, SECRET, seed=7)
        emu.start()
        api = Api(emu)
        api.login()
        emu.inject("error", "tags/get", probability=0.5, errcode=45009)
        runs.append(codes([api.get("tags/get") for _ in range(40)]))
        api.http.close()
        emu.stop()
    assert runs[0] == runs[1]
    assert 0 < runs[0].count(45009) < 40


def test_latency_applies_and_the_call_still_succeeds(wx: Api) -> None:
    wx.login()
    slow = wx.emu.inject("latency", seconds=0.05)
    assert wx.get("tags/get") == {"tags": []}
    assert slow.fired == 1


def test_timeout_before_the_call_acts_delivers_nothing(wx: Api) -> None:
    wx.login()
    wx.emu.user_spoke("o_a")
    wx.emu.inject("timeout", "message/custom/send", count=1, seconds=5)
    with pytest.raises(httpx.ReadTimeout):
        wx.http.post("/cgi-bin/message/custom/send", params={"access_token": wx.access_token},
                     json=_text("o_a"), timeout=0.3)
    assert wx.emu.deliveries == []


def test_timeout_after_the_call_acted_delivers_but_loses_the_answer(wx: Api) -> None:
    wx.login()
    wx.emu.user_spoke("o_a")
    wx.emu.inject("timeout", "message/custom/send", count=1, seconds=5, after=True)
    with pytest.raises(httpx.ReadTimeout):
        wx.http.post("/cgi-bin/message/custom/send", params={"access_token": wx.access_token},
                     json=_text("o_a"), timeout=0.3)
    assert len(wx.emu.deliveries) == 1


def test_dropped_connection(wx: Api) -> None:
    wx.login()
    wx.emu.user_spoke("o_a")
    wx.emu.inject("drop", "message/custom/send", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        wx.text("o_a")
    assert wx.emu.deliveries == []
    assert wx.text("o_a")["errcode"] == 0


# -- what it shows ---------------------------------------------------------------------------
def test_deliveries_stats_and_log(wx: Api, tmp_path: Path) -> None:
    wx.login()
    wx.emu.user_spoke("o_a")
    wx.emu.user_spoke("o_b")
    wx.text("o_a", "党建要闻\n第二行")
    wx.text("o_b", "社区动态")
    got = wx.http.get("/emulator/deliveries", params={"openid": "o_b"}).json()
    assert got["count"] == 1
    assert got["deliveries"][0]["content"] == "社区动态"
    assert got["deliveries"][0]["channel"] == "custom"
    stats = wx.http.get("/emulator/stats").json()
    assert stats["token_fetches"] == 1 and stats["deliveries"] == 2
    assert stats["calls:message/custom/send"] == 2
    lines = (tmp_path / "deliveries.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert "custom text -> o_a: 党建要闻 / 第二行" in lines[0]


def test_control_endpoints(wx: Api) -> None:
    wx.login()
    assert wx.http.post("/emulator/users/o_c/follow").json() == {"ok": True}
    assert wx.http.post("/emulator/users/o_c/spoke").json() == {"ok": True}
    assert wx.text("o_c")["errcode"] == 0
    r = wx.http.post("/emulator/faults", json={"kind": "error", "endpoint": "tags/get",
                                                "count": 1, "errcode": -1})
    assert r.json()["faults"][0]["kind"] == "error"
    assert wx.get("tags/get")["errcode"] == -1
    assert wx.http.post("/emulator/faults", json={"kind": "melt"}).status_code == 400
    assert wx.http.delete("/emulator/faults").json() == {"faults": []}
    before = wx.http.get("/emulator/clock").json()["now"]
    after = wx.http.post("/emulator/clock", json={"advance": 7200}).json()["now"]
    assert after - before >= 7200
    assert wx.get("tags/get")["errcode"] == 42001
    users = wx.http.get("/emulator/users").json()["users"]
    assert [u["openid"] for u in users] == ["o_c"]
    assert wx.http.post("/emulator/users/o_c/say", json={"text": "hi"}).status_code == 409


# -- the users' side -------------------------------------------------------------------------
def test_users_talk_to_the_bot_and_open_their_window(live_bot: Any, emulator: Emulator) -> None:
    from handlers.help import HELP_TEXT

    emulator.connect(f"{live_bot.http.base_url}/wechat")
    reply = emulator.say("o_reader", "帮助")
    assert reply.kind == "text" and reply.text == HELP_TEXT
    secret = emulator.say("o_reader2", "帮助", encrypt=True)
    assert secret.text == HELP_TEXT
    spoke = {u["openid"]: u["spoke_at"] for u in emulator.users()}
    assert spoke["o_reader"] is not None and spoke["o_reader2"] is not None
    emulator.event("o_reader", "unsubscribe")
    assert [u["following"] for u in emulator.users() if u["openid"] == "o_reader"] == [False]


# -- serve --demo ----------------------------------------------------------------------------
def test_serve_demo_runs_the_emulator_and_it_sees_cli_messages(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from bot.config import load_config
    from bot.state.sqlite import SQLiteState
    from bot.wxapi import WeChatAPI
    from tests.conftest import free_port, stop_server, wait_healthy

    newsbot = [sys.executable, "-c", "from bot.cli import main; main()"]
    port, emu_port = free_port(), free_port()
    base = f"http://127.0.0.1:{emu_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env["NEWSBOT_WECHAT_API_BASE_URL"] = base
    server = subprocess.Popen([*newsbot, "serve", "--demo", "--port", str(port)], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        sent = subprocess.run([*newsbot, "send", "帮助", "--url", f"http://127.0.0.1:{port}/wechat"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        assert sent.returncode == 0, sent.stderr
        users = httpx.get(f"{base}/emulator/users", timeout=5).json()["users"]
        assert [u["openid"] for u in users if u["spoke_at"]] == ["o_newsbot_cli_user"]
        config = load_config(None, env={"NEWSBOT_WECHAT_API_BASE_URL": base})
        api = WeChatAPI(config, SQLiteState(tmp_path / "client-state.db"))
        api.send_text("o_newsbot_cli_user", "演示推送")
        got = httpx.get(f"{base}/emulator/deliveries", timeout=5).json()["deliveries"]
        assert [d["content"] for d in got] == ["演示推送"]
        log = (tmp_path / "newsbot-emulator.log").read_text("utf-8")
        assert "custom text -> o_newsbot_cli_user: 演示推送" in log
    finally:
        stop_server(server)
