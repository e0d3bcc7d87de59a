"""The emulator's users' side sends what WeChat sends: read back with wechatpy's own parser,
signature check and crypto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature

from bot.emulator import Emulator
from tests.conftest import LiveServer

APPID, SECRET, TOKEN = "wxuserside000001", "secret", "usertoken"
AES_KEY = "bmV3c2JvdC1kZXZlbG9wbWVudC1rZXktZm9yLWxvYyE"
TEXTS = ["a]]>b", "]]>", "早上好 👋🏻 🇨🇳", "党" * 2000, "<xml>&amp; ' \" </xml>"]


class Capture:
    """A callback that keeps every request WeChat's side sent it and answers ``success``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

        async def wechat(request: Request) -> PlainTextResponse:
            self.requests.append({"params": dict(request.query_params),
                                  "headers": dict(request.headers),
                                  "body": await request.body()})
            return PlainTextResponse("success")

        self.app = Starlette(routes=[Route("/wechat", wechat, methods=["POST"])])


@pytest.fixture
def side() -> Iterator[tuple[Emulator, Capture]]:
    cap = Capture()
    emu = Emulator(APPID, SECRET, token=TOKEN, aes_key=AES_KEY)
    emu.start()
    with LiveServer(cap.app) as srv:
        emu.connect(srv.url + "/wechat")
        yield emu, cap
    emu.stop()


def _checked(req: dict[str, Any], sender: str) -> dict[str, str]:
    p = req["params"]
    check_signature(TOKEN, p["signature"], p["timestamp"], p["nonce"])  # raises if wrong
    assert p["openid"] == sender  # WeChat names the sender in the query string
    assert req["headers"]["content-type"].startswith("text/xml")
    return p


@pytest.mark.parametrize("text", TEXTS, ids=["cdata-end", "only-cdata-end", "emoji",
                                             "2000-chars", "markup"])
def test_plain_messages_parse_with_wechatpy(side: tuple[Emulator, Capture], text: str) -> None:
    emu, cap = side
    emu.say("o_reader", text)
    [req] = cap.requests
    _checked(req, "o_reader")
    msg = parse_message(req["body"])
    assert (msg.type, msg.source, msg.content) == ("text", "o_reader", text)
    assert isinstance(msg.id, int) and msg.id > 0  # MsgId is a bare number, not CDATA
    assert b"<MsgId><![CDATA[" not in req["body"]


@pytest.mark.parametrize("text", TEXTS, ids=["cdata-end", "only-cdata-end", "emoji",
                                             "2000-chars", "markup"])
def test_safe_mode_messages_decrypt_with_wechatpy(side: tuple[Emulator, Capture],
                                                  text: str) -> None:
    emu, cap = side
    emu.say("o_secret", text, encrypt=True)
    [req] = cap.requests
    p = _checked(req, "o_secret")
    assert p["encrypt_type"] == "aes"
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    plain = crypto.decrypt_message(req["body"], p["msg_signature"], p["timestamp"], p["nonce"])
    msg = parse_message(plain)
    assert (msg.source, msg.content) == ("o_secret", text)


def test_events_parse_with_wechatpy(side: tuple[Emulator, Capture]) -> None:
    emu, cap = side
    emu.event("o_new", "subscribe")
    emu.click("o_new", "LATEST")
    follow, click = (parse_message(r["body"]) for r in cap.requests)
    assert (follow.type, follow.event, follow.source) == ("event", "subscribe", "o_new")
    assert (click.event, click.key) == ("click", "LATEST")
    assert [r["params"]["openid"] for r in cap.requests] == ["o_new", "o_new"]


def test_newsbot_send_encrypts_a_cdata_end_without_a_traceback(live_bot: Any) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    url = f"{live_bot.http.base_url}/wechat"
    cfg = live_bot.config
    env = {"NEWSBOT_WECHAT_TOKEN": cfg.wechat["token"], "NEWSBOT_WECHAT_APPID": cfg.wechat["appid"],
           "NEWSBOT_WECHAT_ENCODING_AES_KEY": cfg.wechat["encoding_aes_key"],
           "NEWSBOT_WECHAT_API_BASE_URL": "http://127.0.0.1:9"}
    r = CliRunner().invoke(main, ["--config", str(cfg.path), "send", "--encrypt", "xq]]>zw",
                                  "--url", url], env=env)
    assert r.exit_code == 0, r.output
    assert "xq" in r.output and "zw" in r.output  # both sides of the ]]> reached the bot


def test_newsbot_send_plays_the_user_through_a_configured_emulator(
        live_bot: Any, emulator: Emulator) -> None:
    """A user played with `newsbot send` exists at the emulator and can receive pushes; with
    --direct (or no emulator) the message goes straight to the bot and WeChat never saw it."""
    from click.testing import CliRunner

    from bot.cli import main
    from bot.state import open_state
    from bot.wxapi import WeChatAPI, WeChatAPIError

    cfg = live_bot.config
    url = f"{live_bot.http.base_url}/wechat"
    env = {"NEWSBOT_WECHAT_API_BASE_URL": emulator.url}
    run = CliRunner().invoke
    r = run(main, ["--config", str(cfg.path), "send", "帮助", "--url", url, "--encrypt"], env=env)
    assert r.exit_code == 0, r.output
    assert r.output.startswith("欢迎关注！")
    r = run(main, ["--config", str(cfg.path), "send", "帮助", "--url", url, "--direct",
                   "--user", "o_direct"], env=env)
    assert r.exit_code == 0 and r.output.startswith("欢迎关注！")
    known = {u["openid"]: u for u in emulator.users()}
    assert known["o_newsbot_cli_user"]["following"] and known["o_newsbot_cli_user"]["spoke_at"]
    assert "o_direct" not in known
    api = WeChatAPI(cfg, open_state(cfg))
    try:
        api.send_text("o_newsbot_cli_user", "今日摘要")
        assert emulator.deliveries[-1]["openid"] == "o_newsbot_cli_user"
        with pytest.raises(WeChatAPIError) as refused:  # WeChat never saw this user
            api.send_text("o_direct", "今日摘要")
        assert refused.value.errcode == 40003
    finally:
        api.close()
    r = run(main, ["--config", str(cfg.path), "send", "帮助", "--url",
                   "http://127.0.0.1:9/wechat"], env=env)
    assert r.exit_code == 1 and "cannot reach the bot" in r.output
    assert "Traceback" not in r.output
