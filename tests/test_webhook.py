"""The webhook at its HTTP boundary: verification, the three modes, the official vectors,
refusals, dedup and the router's fallbacks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bot import envelope
from bot.app import build_services
from bot.callback import message_xml, read_reply, sign_request
from bot.config import load_config
from bot.envelope import Envelope, sign
from bot.router import Router
from handlers.base import FALLBACK_TEXT, Routes
from handlers.help import HELP_TEXT
from tests.conftest import NOWHERE, Bot, write_config


# -- official test vectors (../shared/docs/wechat-platform.md) ---------------------------------
def test_plain_signature_vector() -> None:
    assert sign("AAAAA", "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"


def test_encrypt_vector_with_fixed_random(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envelope._Crypto, "get_random_string", lambda self: "aaaabbbbccccdddd")
    env = Envelope("pamtest", "wxb11529c136998cb6", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    sealed = env.encrypt("我是中文abcd123", nonce="n", timestamp="1")
    assert (
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
        in sealed
    )


E2E_ENCRYPT = (
    "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//"
    "1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OB"
    "qCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTf"
    "yeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ"
    "15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbs"
    "TFHTYe0Mg=="
)


def _vector_services(tmp_path: Path, replay_window: int = 0):  # type: ignore[no-untyped-def]
    p = tmp_path / "vec.toml"
    p.write_text(
        f"""
[wechat]
token = "AAAAA"
appid = "wx134c8103faa5a59e"
encoding_aes_key = "{'A' * 43}"
api_base_url = "{NOWHERE}"
[server]
replay_window = {replay_window}
[store]
path = "{tmp_path / 'vec.db'}"
[state]
path = "{tmp_path / 'vec-state.db'}"
""",
        encoding="utf-8",
    )
    return build_services(load_config(p, env={}))


def test_end_to_end_encrypted_vector_decrypts(tmp_path: Path) -> None:
    env = Envelope("AAAAA", "wx134c8103faa5a59e", "A" * 43, replay_window=0)
    query = {
        "timestamp": "1715943329",
        "nonce": "1590219412",
        "encrypt_type": "aes",
        "msg_signature": "6c12a4205838198b8fa631b3220723bb07f1015c",
    }
    body = f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{E2E_ENCRYPT}]]></Encrypt></xml>"
    msg, encrypted = env.open(query, body.encode())
    assert encrypted
    assert msg.type == "event" and msg.event == "debug_demo"
    assert msg.source == "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
    assert msg.raw["debug_str"] == "hello world"


def test_end_to_end_vector_through_http(tmp_path: Path, make_bot) -> None:  # type: ignore[no-untyped-def]
    s = _vector_services(tmp_path)
    bot = make_bot(s)
    body = f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{E2E_ENCRYPT}]]></Encrypt></xml>"
    params = {
        "timestamp": "1715943329",
        "nonce": "1590219412",
        "encrypt_type": "aes",
        "msg_signature": "6c12a4205838198b8fa631b3220723bb07f1015c",
        "signature": "ignored-in-safe-mode",
    }
    r = bot.http.post("/wechat", params=params, content=body.encode())
    assert r.status_code == 200 and r.text == "success"  # debug_demo: nobody handles it
    # one changed character in the signature is refused
    bad = dict(params, msg_signature="7" + params["msg_signature"][1:])
    assert bot.http.post("/wechat", params=bad, content=body.encode()).status_code == 403
    # checking `signature` instead of `msg_signature` would accept this: we must not
    s.close()


def test_encrypted_reply_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envelope._Crypto, "get_random_string", lambda self: "999951349e8ee746")
    env = Envelope("AAAAA", "wx134c8103faa5a59e", "A" * 43)
    sealed = env.encrypt(
        "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>", "415670741", "1713424427"
    )
    assert (
        "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
        in sealed
    )
    assert "03e0812039325c2712ef5f0f980fd14c70d6e307" in sealed


# -- GET verification -----------------------------------------------------------------------------
def test_get_verification(bot: Bot) -> None:
    token = bot.config.wechat["token"]
    ok = {"signature": sign(token, "123", "n1"), "timestamp": "123", "nonce": "n1", "echostr": "e42"}
    r = bot.http.get("/wechat", params=ok)
    assert r.status_code == 200 and r.text == "e42"
    r = bot.http.get("/wechat", params=dict(ok, signature="0" * 40))
    assert r.status_code == 403 and "e42" not in r.text
    assert bot.http.get("/wechat").status_code == 403


def test_get_verification_reads_escapes_and_repeats_as_the_standard_parser(bot: Bot) -> None:
    token = bot.config.wechat["token"]
    sig = sign(token, "123", "n 1")
    # "n 1" written as n+1, echostr with %-escapes, a repeated name (the last one counts)
    raw = f"signature=0&signature={sig}&timestamp=123&nonce=n+1&echostr=%E4%B8%AD%2Bx&flag"
    r = bot.http.get("/wechat?" + raw)
    assert r.status_code == 200 and r.text == "中+x"


def test_head_put_and_a_bodiless_post(bot: Bot) -> None:
    token = bot.config.wechat["token"]
    ok = {"signature": sign(token, "123", "n1"), "timestamp": "123", "nonce": "n1", "echostr": "e42"}
    r = bot.http.head("/wechat", params=ok)
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "3"
    r = bot.http.put("/wechat", params=ok, content=b"<xml/>")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, POST"
    now = str(int(time.time()))  # inside the replay window
    signed = {"signature": sign(token, now, "n1"), "timestamp": now, "nonce": "n1"}
    r = bot.http.post("/wechat", params=signed, content=b"")
    assert r.status_code == 400  # signed, but no message in it


# -- the three modes --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
def test_round_trip_in_each_mode(bot: Bot, mode: str) -> None:
    req = sign_request(
        message_xml(user="o_mode", text="帮助"),
        bot.config.wechat["token"],
        appid=bot.config.wechat["appid"],
        aes_key=bot.config.wechat["encoding_aes_key"],
        encrypt=mode != "plain",
        compat=mode == "compat",
    )
    r = bot.http.post("/wechat", params=req.params, content=req.body)
    assert r.status_code == 200
    if mode != "plain":
        assert "<Encrypt>" in r.text and "帮助" not in r.text  # nothing readable in the clear
    reply = read_reply(
        r.status_code, r.text, bot.config.wechat["token"], bot.config.wechat["appid"],
        bot.config.wechat["encoding_aes_key"],
    )
    assert reply.kind == "text" and reply.text == HELP_TEXT


def test_round_trip_on_real_uvicorn(live_bot: Bot) -> None:
    reply = live_bot.send("help", encrypt=True)
    assert reply.text == HELP_TEXT
    assert live_bot.http.get("/healthz").json()["status"] == "ok"


def test_reply_addresses_the_user(bot: Bot) -> None:
    r = bot.post_xml(message_xml(user="o_addr", account="gh_acct", text="帮助"))
    assert "<ToUserName><![CDATA[o_addr]]></ToUserName>" in r.text
    assert "<FromUserName><![CDATA[gh_acct]]></FromUserName>" in r.text


# -- refusals -----------------------------------------------------------------------------------
def test_bad_signature_403(bot: Bot) -> None:
    req = sign_request(message_xml(user="u", text="帮助"), "wrong-token")
    assert bot.http.post("/wechat", params=req.params, content=req.body).status_code == 403


def test_replay_window(bot: Bot) -> None:
    old = int(time.time()) - 3600
    r = bot.post_xml(message_xml(user="u", text="帮助"), timestamp=old)
    assert r.status_code == 403 and "replay" in r.text
    assert bot.post_xml(message_xml(user="u", text="帮助")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [b"", b"not xml at all", b"<xml><MsgType>text</MsgType>", b"<root><a/></root>", b"<xml></xml>",
     "<xml><MsgType>text</MsgType><Content>\udcff</Content></xml>".encode("utf-8", "surrogatepass")],
)
def test_malformed_xml_400(bot: Bot, body: bytes) -> None:
    token = bot.config.wechat["token"]
    ts = str(int(time.time()))
    params = {"signature": sign(token, ts, "n"), "timestamp": ts, "nonce": "n"}
    assert bot.http.post("/wechat", params=params, content=body).status_code == 400


def test_undecryptable_400(bot: Bot) -> None:
    token = bot.config.wechat["token"]
    ts = str(int(time.time()))
    enc = "bm90IGEgcmVhbCBjaXBoZXJ0ZXh0IGF0IGFsbCEhISE="
    params = {"timestamp": ts, "nonce": "n", "encrypt_type": "aes",
              "msg_signature": sign(token, ts, "n", enc)}
    body = f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()
    assert bot.http.post("/wechat", params=params, content=body).status_code == 400


def test_message_for_another_appid_400(bot: Bot) -> None:
    other = sign_request(
        message_xml(user="u", text="帮助"), bot.config.wechat["token"], appid="wxsomeoneelse0001",
        aes_key=bot.config.wechat["encoding_aes_key"], encrypt=True,
    )
    assert bot.http.post("/wechat", params=other.params, content=other.body).status_code == 400


def test_body_over_cap_413(bot: Bot) -> None:
    big = message_xml(user="u", text="党" * 30000)  # 90 KB of UTF-8
    assert bot.post_xml(big).status_code == 413


def test_xml_bomb_refused_quickly(bot: Bot) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i} "{"&lol%s;" % (i - 1 if i > 1 else "") * 10}">' for i in range(1, 10))
        + "]><xml><MsgType>text</MsgType><Content>&lol9;</Content></xml>"
    )
    started = time.perf_counter()
    r = bot.post_xml(bomb)
    assert r.status_code == 400
    assert time.perf_counter() - started < 5  # refused before expansion, not after


def test_external_entity_refused(bot: Bot, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>'
        "<xml><ToUserName>a</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>text</MsgType><Content>&e;</Content><MsgId>1</MsgId></xml>"
    )
    r = bot.post_xml(xxe)
    assert r.status_code == 400 and "TOP-SECRET" not in r.text


# -- dispatch ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw", [dict(event="TEMPLATESENDJOBFINISH"), dict(event="VIEW", key="http://x"),
           dict(event="LOCATION"), dict(event="MASSSENDJOBFINISH")],
)
def test_unhandled_types_get_success(bot: Bot, kw: dict) -> None:  # type: ignore[type-arg]
    assert bot.send(user="o_unknown", **kw).kind == "success"


def _counting_services(config, counter: list[int], delay: float = 0.0, fail: bool = False):  # type: ignore[no-untyped-def]
    routes = Routes()

    @routes(keyword="ping")
    def ping(msg, ctx):  # type: ignore[no-untyped-def]
        counter.append(1)
        if delay:
            time.sleep(delay)
        if fail:
            raise RuntimeError("boom")
        return f"pong {len(counter)}"

    return build_services(config, router=Router(routes))


def test_raising_handler_gets_fallback(config, make_bot, caplog) -> None:  # type: ignore[no-untyped-def]
    s = _counting_services(config, [], fail=True)
    reply = make_bot(s).send("ping", user="o_fail")
    assert reply.kind == "text" and reply.text == FALLBACK_TEXT
    assert any("o_fail" in r.getMessage() and "ping" in r.getMessage() for r in caplog.records)
    s.close()


def test_same_msgid_three_times_runs_once(config, make_bot) -> None:  # type: ignore[no-untyped-def]
    runs: list[int] = []
    s = _counting_services(config, runs)
    bot = make_bot(s)
    xml = message_xml(user="o_dup", text="ping", msgid="777")
    replies = [bot.post_xml(xml).text for _ in range(3)]
    assert len(runs) == 1
    assert len(set(replies)) == 1 and "pong 1" in replies[0]
    # the same MsgId from another user is another message (MsgIds collide across users)
    other = bot.post_xml(message_xml(user="o_dup2", text="ping", msgid="777")).text
    assert "pong 2" in other and len(runs) == 2
    s.close()


def test_retry_while_running_waits_for_the_answer(config, make_bot) -> None:  # type: ignore[no-untyped-def]
    runs: list[int] = []
    s = _counting_services(config, runs, delay=0.8)
    bot = make_bot(s)
    xml = message_xml(user="o_wait", text="ping", msgid="888")
    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(bot.post_xml(xml).text))
    t.start()
    time.sleep(0.2)
    second = bot.post_xml(xml).text
    t.join()
    assert len(runs) == 1
    assert "pong 1" in second and out[0] == second
    s.close()


def test_events_dedup_on_user_time_event_key(bot: Bot) -> None:
    xml = message_xml(user="o_evt", event="subscribe", create_time=1700000000)
    first, second = bot.post_xml(xml).text, bot.post_xml(xml).text
    assert first == second and "感谢关注" in first
    other_time = bot.post_xml(message_xml(user="o_evt", event="subscribe", create_time=1700000001))
    assert "感谢关注" in other_time.text


def test_long_text_is_clipped_to_the_limit(config, make_bot) -> None:  # type: ignore[no-untyped-def]
    routes = Routes()
    routes.add(lambda m, c: "长" * 5000, keyword="long", name="long")
    s = build_services(config, router=Router(routes))
    reply = make_bot(s).send("long")
    assert len(reply.text.encode()) <= 2000 and reply.text.endswith("…")
    s.close()


def test_cdata_terminator_in_reply_is_escaped(config, make_bot) -> None:  # type: ignore[no-untyped-def]
    routes = Routes()
    routes.add(lambda m, c: "a]]>b<c>&", keyword="x", name="x")
    s = build_services(config, router=Router(routes))
    assert make_bot(s).send("x").text == "a]]>b<c>&"
    s.close()


def test_config_token_from_environment(tmp_path: Path, make_bot) -> None:  # type: ignore[no-untyped-def]
    cfg = load_config(write_config(tmp_path), env={"NEWSBOT_WECHAT_TOKEN": "from-env"})
    s = build_services(cfg)
    bot = make_bot(s)
    assert bot.send("帮助").text == HELP_TEXT  # Bot signs with the loaded (env) token
    req = sign_request(message_xml(user="u", text="帮助"), "testtoken")
    assert bot.http.post("/wechat", params=req.params, content=req.body).status_code == 403
    s.close()


def test_app_never_500s_on_garbage(bot: Bot) -> None:
    for params in ({}, {"encrypt_type": "aes"}, {"timestamp": "x", "nonce": "y", "signature": "z"}):
        for body in (b"\x00\xff" * 10, b"<xml>", "<xml>党</xml>".encode()):
            assert bot.http.post("/wechat", params=params, content=body).status_code in (400, 403)


def test_each_encrypted_reply_opens_with_fresh_random_bytes() -> None:
    env = Envelope("AAAAA", "wx134c8103faa5a59e", "A" * 43)
    first, second = (env.encrypt("<xml>同一个回答</xml>", "n", "1") for _ in range(2))
    assert first != second  # same reply, nonce and time: only the random prefix differs
    for sealed in (first, second):
        inner = sealed.split("<![CDATA[", 1)[1].split("]]>", 1)[0]
        assert env.decrypt(inner) == "<xml>同一个回答</xml>"
