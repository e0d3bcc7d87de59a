"""The emulator answers as WeChat does, checked with wechatpy's own client and parser.

``Conformance`` is wechatpy's ``WeChatClient`` with the API base URL on the emulator, the token
fetched from the emulator, and its automatic re-fetch on 40001 turned off (a conformance check
must see the code, not hide it). Its HTTP session refuses any address but the emulator's, so a
mistake here can never send anything to WeChat. Every endpoint the emulator serves is driven
through it; status codes, field names, error codes and JSON shapes are those of WeChat's
documentation (docs/emulator.md names the documented behaviour each rule follows).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot.emulator import Emulator
from bot.emulator.app import ENDPOINTS

APPID, SECRET = "wxconformance0001", "conformance-secret"
MORNING = 1740967200.0  # 2025-03-03 10:00 Beijing time


class _LoopbackOnly(requests.adapters.HTTPAdapter):
    """Refuses every request that is not for the emulator."""

    def __init__(self, base: str) -> None:
        super().__init__(max_retries=0)
        self.base = base

    def send(self, request: Any, *args: Any, **kw: Any) -> Any:
        if not str(request.url).startswith(self.base + "/"):
            raise AssertionError(f"the conformance client tried to reach {request.url}")
        return super().send(request, *args, **kw)


class Conformance(WeChatClient):
    """wechatpy's client, pointed at the emulator and never at WeChat."""

    def __init__(self, base: str, appid: str = APPID, secret: str = SECRET) -> None:
        super().__init__(appid, secret, auto_retry=False, timeout=10)
        self.API_BASE_URL = base + "/cgi-bin/"
        guard = _LoopbackOnly(base)
        self._http.mount("http://", guard)
        self._http.mount("https://", guard)

    def fetch_access_token(self) -> dict[str, Any]:
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid,
                    "secret": self.secret},
        )


@pytest.fixture
def emu() -> Iterator[Emulator]:
    e = Emulator(APPID, SECRET, clock=lambda: MORNING)
    e.start()
    yield e
    e.stop()


@pytest.fixture
def service() -> Iterator[Emulator]:
    e = Emulator(APPID, SECRET, clock=lambda: MORNING, account_type="service")
    e.start()
    yield e
    e.stop()


@pytest.fixture
def wx(emu: Emulator) -> Conformance:
    return Conformance(emu.url or "")


def code_of(call: Any, *args: Any, **kw: Any) -> int | None:
    """The errcode WeChat's answer raises in wechatpy (0 when the call succeeds)."""
    try:
        call(*args, **kw)
    except WeChatClientException as e:
        return e.errcode
    return 0


# -- the client itself --------------------------------------------------------------------------
def test_the_client_cannot_reach_wechat(wx: Conformance) -> None:
    with pytest.raises(AssertionError, match=r"api\.weixin\.qq\.com"):
        wx._http.get("https://api.weixin.qq.com/cgi-bin/token")
    with pytest.raises(AssertionError):
        WeChatClient.fetch_access_token(wx)  # wechatpy's own fetch names WeChat's address


# -- tokens ---------------------------------------------------------------------------------
def test_token(wx: Conformance, emu: Emulator) -> None:
    got = wx.fetch_access_token()
    assert set(got) == {"access_token", "expires_in"} and got["expires_in"] == 7200
    assert wx.tag.get() == []  # the token works through wechatpy's own calls
    bad = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    for params, code in [
        ({**bad, "grant_type": "password"}, 40002),
        ({k: v for k, v in bad.items() if k != "grant_type"}, 40002),
        ({**bad, "appid": "wx-someone-else"}, 40013),
        ({**bad, "secret": "wrong"}, 40125),
        ({k: v for k, v in bad.items() if k != "appid"}, 41002),
        ({k: v for k, v in bad.items() if k != "secret"}, 41004),
    ]:
        assert code_of(wx._fetch_access_token, API(wx, "token"), params) == code, params


def API(wx: Conformance, endpoint: str) -> str:  # noqa: N802 - reads as the address it is
    return wx.API_BASE_URL + endpoint


def _stable(wx: Conformance, force: bool = False, **over: Any) -> dict[str, Any]:
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET,
            "force_refresh": force, **over}
    return wx.post("stable_token", data=body, params={})


def test_stable_token_is_kept_apart_from_token(wx: Conformance, emu: Emulator) -> None:
    stable = _stable(wx)
    assert set(stable) == {"access_token", "expires_in"}
    plain = wx.fetch_access_token()["access_token"]
    assert plain != stable["access_token"]
    assert _stable(wx)["access_token"] == stable["access_token"]  # a /token fetch left it
    wx.fetch_access_token()
    emu.advance(301)  # the first /token token is gone; the stable one is not
    assert code_of(wx.tag.get, ) == 0
    assert code_of(wx.get, "tags/get", params={"access_token": plain}) == 40001
    assert code_of(wx.get, "tags/get", params={"access_token": stable["access_token"]}) == 0
    assert code_of(_stable, wx, grant_type="x") == 40002
    assert code_of(_stable, wx, secret="wrong") == 40125
    assert code_of(_stable, wx, appid="wx-other") == 40013
    assert code_of(_stable, wx, force="yes") == 47001


def test_force_refresh_ends_the_replaced_token_at_once(wx: Conformance, emu: Emulator) -> None:
    old = _stable(wx)["access_token"]
    new = _stable(wx, force=True)["access_token"]
    assert new != old
    assert code_of(wx.get, "tags/get", params={"access_token": old}) == 40001
    assert code_of(wx.get, "tags/get", params={"access_token": new}) == 0
    assert code_of(_stable, wx, True) == 45011  # 30 s apart
    emu.advance(31)
    assert "access_token" in _stable(wx, force=True)


def test_token_errors_on_api_calls(wx: Conformance, emu: Emulator) -> None:
    assert code_of(wx.get, "tags/get", params={"access_token": ""}) == 41001
    assert code_of(wx.get, "tags/get", params={"access_token": "forged"}) == 40014
    wx.fetch_access_token()
    emu.advance(7200)
    assert code_of(wx.tag.get) == 42001  # and wechatpy did not fetch again: auto-retry is off
    assert emu.token_fetches == 1


# -- customer-service messages -----------------------------------------------------------------
def test_custom_send(wx: Conformance, emu: Emulator) -> None:
    wx.fetch_access_token()
    emu.follow("o_a")
    assert code_of(wx.message.send_text, "o_a", "你好") == 45015  # never spoke
    emu.user_spoke("o_a")
    assert wx.message.send_text("o_a", "你好") == {"errcode": 0, "errmsg": "ok"}
    one = {"title": "标题", "description": "摘要", "url": "https://example.org/1", "image": ""}
    assert wx.message.send_articles("o_a", [one]) == {"errcode": 0, "errmsg": "ok"}
    assert code_of(wx.message.send_articles, "o_a", [one, one]) == 45008
    assert code_of(wx.message.send_text, "o_a", "长" * 700) == 45002
    assert code_of(wx.message.send_text, "o_a", "") == 44004
    assert code_of(wx.message.send_text, "o_nobody", "你好") == 40003
    assert code_of(wx.post, "message/custom/send",
                   data={"touser": "o_a", "msgtype": "telepathy"}) == 40008
    emu.unfollow("o_a")
    assert code_of(wx.message.send_text, "o_a", "你好") == 43004


def test_custom_send_delivers_a_repeated_clientmsgid_again(wx: Conformance,
                                                             emu: Emulator) -> None:
    wx.fetch_access_token()
    emu.user_spoke("o_a")
    body = {"touser": "o_a", "msgtype": "text", "text": {"content": "摘要"},
            "clientmsgid": "d1:o_a"}
    assert wx.post("message/custom/send", data=body)["errcode"] == 0
    assert wx.post("message/custom/send", data=body)["errcode"] == 0
    assert len(emu.deliveries) == 2  # WeChat documents clientmsgid for mass sends only


# -- mass sends -----------------------------------------------------------------------------------
def test_mass_sendall(wx: Conformance, emu: Emulator) -> None:
    wx.fetch_access_token()
    emu.follow("o_1")
    emu.follow("o_2")
    sent = wx.message.send_mass_text(None, "今日摘要", is_to_all=True, client_msg_id="day-1")
    assert set(sent) == {"errcode", "errmsg", "msg_id"} and sent["errcode"] == 0
    try:
        wx.message.send_mass_text(None, "今日摘要", is_to_all=True, client_msg_id="day-1")
        raise AssertionError("a repeated clientmsgid was sent again")
    except WeChatClientException as e:
        assert e.errcode == 45065 and e.response.json()["msg_id"] == sent["msg_id"]
    assert code_of(wx.message.send_mass_text, None, "again", is_to_all=True) == 45028
    assert code_of(wx.message.send_mass_text, None, "x", is_to_all=True,
                   client_msg_id="k" * 65) == 45067
    assert sorted(d["openid"] for d in emu.deliveries) == ["o_1", "o_2"]


def test_mass_sendall_to_a_tag(wx: Conformance, service: Emulator) -> None:
    wx = Conformance(service.url or "")
    wx.fetch_access_token()
    for o in ("o_1", "o_2", "o_3"):
        service.follow(o)
    tag = wx.tag.create("党建")
    wx.tag.tag_user(tag["id"], ["o_1", "o_2"])
    sent = wx.message.send_mass_text(tag["id"], "党建摘要")  # wechatpy names it group_id
    assert sent["errcode"] == 0
    assert sorted(d["openid"] for d in service.deliveries) == ["o_1", "o_2"]
    assert code_of(wx.message.send_mass_text, 9999, "x") == 45159


def test_mass_send_to_openids(wx: Conformance, emu: Emulator, service: Emulator) -> None:
    wx.fetch_access_token()
    emu.follow("o_1")
    emu.follow("o_2")
    # a subscription account may not send to a list of openids
    assert code_of(wx.message.send_mass_text, ["o_1", "o_2"], "x") == 48001
    svc = Conformance(service.url or "")
    svc.fetch_access_token()
    service.follow("o_1")
    service.follow("o_2")
    sent = svc.message.send_mass_text(["o_1", "o_2"], "摘要")
    assert set(sent) == {"errcode", "errmsg", "msg_id"} and sent["errcode"] == 0
    assert code_of(svc.message.send_mass_text, ["o_1"], "x") == 40130
    assert code_of(svc.post, "message/mass/send", data={"touser": "o_1", "msgtype": "text",
                                                         "text": {"content": "x"}}) == 47001


# -- tags and users -------------------------------------------------------------------------------
def test_tags(wx: Conformance, emu: Emulator) -> None:
    wx.fetch_access_token()
    emu.follow("o_1")
    tag = wx.tag.create("社区")
    assert set(tag) == {"id", "name"} and tag["name"] == "社区"
    assert code_of(wx.tag.create, "社区") == 45157
    assert code_of(wx.tag.create, "长" * 31) == 45158
    assert wx.tag.tag_user(tag["id"], ["o_1"]) == {"errcode": 0, "errmsg": "ok"}
    assert code_of(wx.tag.tag_user, tag["id"], [f"o_{i}" for i in range(51)]) == 40032
    assert code_of(wx.tag.tag_user, 4242, ["o_1"]) == 45159
    assert code_of(wx.tag.tag_user, tag["id"], ["o_stranger"]) == 40003
    assert wx.tag.get() == [{"id": tag["id"], "name": "社区", "count": 1}]


def test_user_get_and_info(wx: Conformance, emu: Emulator) -> None:
    wx.fetch_access_token()
    empty = wx.user.get_followers()
    assert empty == {"total": 0, "count": 0, "next_openid": ""}
    for o in ("o_1", "o_2"):
        emu.follow(o)
    got = wx.user.get_followers()
    assert got == {"total": 2, "count": 2, "data": {"openid": ["o_1", "o_2"]},
                   "next_openid": "o_2"}
    info = wx.user.get("o_1")
    assert set(info) == {"subscribe", "openid", "language", "subscribe_time", "remark",
                         "groupid", "tagid_list", "subscribe_scene", "qr_scene", "qr_scene_str"}
    assert info["subscribe"] == 1 and info["openid"] == "o_1"
    emu.unfollow("o_2")
    assert wx.user.get("o_2") == {"subscribe": 0, "openid": "o_2"}
    assert code_of(wx.user.get, "o_nobody") == 40003


# -- the menu and the console ------------------------------------------------------------------
MENU = {"button": [
    {"type": "click", "name": "最新", "key": "LATEST"},
    {"name": "服务", "sub_button": [{"type": "view", "name": "官网", "url": "https://example.org/"},
                                   {"type": "click", "name": "帮助", "key": "HELP"}]},
]}


def test_menu_create_and_get(wx: Conformance) -> None:
    wx.fetch_access_token()
    assert wx.menu.get() is None  # wechatpy turns WeChat's 46003 into None
    assert wx.menu.create(MENU) == {"errcode": 0, "errmsg": "ok"}
    got = wx.menu.get()
    assert got["menu"]["button"][0] == {**MENU["button"][0], "sub_button": []}
    assert [s["name"] for s in got["menu"]["button"][1]["sub_button"]] == ["官网", "帮助"]
    assert code_of(wx.menu.create, {"button": []}) == 40016
    assert code_of(wx.menu.create, {"button": [{"type": "click", "name": "x" * 17,
                                                "key": "K"}]}) == 40018
    assert code_of(wx.menu.create, {"button": [{"type": "dance", "name": "x"}]}) == 40017


CONSOLE_RULES = {
    "is_add_friend_reply_open": 1, "is_autoreply_open": 1,
    "add_friend_autoreply_info": {"type": "text", "content": "欢迎关注"},
    "message_default_autoreply_info": {"type": "text", "content": "留言已收到"},
    "keyword_autoreply_info": {"list": [{
        "rule_name": "办公时间", "create_time": 1700000000, "reply_mode": "reply_all",
        "keyword_list_info": [{"type": "text", "match_mode": "equal", "content": "办公时间"}],
        "reply_list_info": [{"type": "text", "content": "工作日 9:00-17:00"}],
    }]},
}
CONSOLE_MENU = {"button": [{"type": "text", "name": "电话", "value": "12345"},
                           {"name": "更多", "sub_button": {"list": [
                               {"type": "view", "name": "官网", "url": "https://example.org/"}]}}]}


def test_get_current_autoreply_info(wx: Conformance, emu: Emulator) -> None:
    wx.fetch_access_token()
    assert wx.message.get_autoreply_info() == {"is_add_friend_reply_open": 0,
                                               "is_autoreply_open": 0}
    emu.set_console(autoreply=CONSOLE_RULES)
    assert wx.message.get_autoreply_info() == CONSOLE_RULES


def test_get_current_selfmenu_info_reports_the_pushed_menu_once_there_is_one(
        wx: Conformance, emu: Emulator) -> None:
    wx.fetch_access_token()
    assert wx.menu.get_menu_info() == {"is_menu_open": 0}
    emu.set_console(menu=CONSOLE_MENU)
    assert wx.menu.get_menu_info() == {"is_menu_open": 1, "selfmenu_info": CONSOLE_MENU}
    wx.menu.create(MENU)
    pushed = wx.menu.get_menu_info()["selfmenu_info"]["button"]
    assert pushed[0] == MENU["button"][0]
    assert pushed[1]["sub_button"] == {"list": MENU["button"][1]["sub_button"]}


# -- what every endpoint answers to a wrong method or a bad body ------------------------------
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_wrong_method_is_answered_200_with_wechats_code(wx: Conformance, endpoint: str) -> None:
    token = _stable(wx)["access_token"]
    method = ENDPOINTS[endpoint][0]
    other = "post" if method == "GET" else "get"
    res = wx._http.request(other, API(wx, endpoint), params={"access_token": token},
                           data=b"{}")
    assert res.status_code == 200
    assert res.json()["errcode"] == (43001 if method == "GET" else 43002)


@pytest.mark.parametrize("endpoint", sorted(e for e, s in ENDPOINTS.items() if s[0] == "POST"))
def test_empty_and_malformed_bodies(wx: Conformance, endpoint: str) -> None:
    token = _stable(wx)["access_token"]
    params = {"access_token": token}
    for body, code in [(b"", 44002), (b"{not json", 47001), (b"[1, 2]", 47001)]:
        res = wx._http.post(API(wx, endpoint), params=params, data=body)
        assert res.status_code == 200 and res.json()["errcode"] == code, (endpoint, body)


def test_fields_of_the_wrong_type_and_unknown_fields(wx: Conformance, emu: Emulator) -> None:
    wx.fetch_access_token()
    emu.user_spoke("o_a")
    assert code_of(wx.post, "tags/create", data={"tag": {"name": ["社区"]}}) == 47001
    assert code_of(wx.post, "tags/members/batchtagging",
                   data={"openid_list": ["o_a"], "tagid": [1]}) == 47001
    # WeChat passes over fields it does not know
    assert wx.post("message/custom/send", data={
        "touser": "o_a", "msgtype": "text", "text": {"content": "你好"},
        "customservice": {"kf_account": "x"}, "unknown": 1}) == {"errcode": 0, "errmsg": "ok"}


def test_an_endpoint_the_emulator_does_not_serve(wx: Conformance) -> None:
    wx.fetch_access_token()
    assert code_of(wx.get, "shorturl/unknown") == 48001
