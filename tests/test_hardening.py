"""The webhook against the attacks of a callback URL read from a proxy's log: a downgrade to a
plain body, a replayed nonce, bodies in other encodings; and the state backend failing under
it (the degraded mode). Signed requests in, HTTP status and replies out."""

from __future__ import annotations

import logging
import tracemalloc
from pathlib import Path

import httpx
import pytest

from bot.app import Services, build_services
from bot.callback import message_xml, read_reply, sign_request
from bot.config import DEV_AES_KEY, Config, load_config
from bot.envelope import sign
from bot.gate import HELD_DEGRADED, HELD_UNSIGNED
from bot.router import Router
from bot.state.redis import RedisState
from handlers.base import Routes
from store import articles
from store.audit import entries
from tests.conftest import Bot, free_port, write_config
from tests.test_admin import ADMIN, STORY

OWN_KEY = "b3duLWtleS1vZi10aGUtb3BlcmF0b3ItZm9yLXRlc3Q"  # not the built-in development key
READER = "o_reader_9"


def _config(tmp_path: Path, mode: str, key: str = OWN_KEY, window: int = 300) -> Config:
    extra = (f'[admin]\nopenids = ["{ADMIN}"]\n[server]\nreply_budget = 30.0\n'
             f"replay_window = {window}\n")
    path = write_config(tmp_path, extra)
    text = path.read_text().replace(f'encoding_aes_key = "{DEV_AES_KEY}"',
                                    f'encoding_aes_key = "{key}"\nmode = "{mode}"')
    path.write_text(text)
    return load_config(path, env={})


def _story(bot: Bot) -> int:
    r = bot.send(STORY, user=ADMIN, encrypt=True)
    assert r.text.startswith("已添加 #"), r.raw
    return int(r.text.split("#", 1)[1].split("《", 1)[0])


@pytest.fixture
def safe(tmp_path: Path, make_bot) -> tuple[Bot, Services]:  # type: ignore[no-untyped-def]
    s = build_services(_config(tmp_path, "auto"))  # a key of one's own: auto is safe
    yield make_bot(s), s
    s.close()


@pytest.fixture
def compat(tmp_path: Path, make_bot) -> tuple[Bot, Services]:  # type: ignore[no-untyped-def]
    s = build_services(_config(tmp_path, "compat"))
    yield make_bot(s), s
    s.close()


# -- modes ----------------------------------------------------------------------------------------
def test_auto_is_safe_with_a_key_of_ones_own_and_plain_with_the_built_in_one(
    tmp_path: Path,
) -> None:
    assert _config(tmp_path, "auto").wechat_mode == "safe"
    assert _config(tmp_path, "auto", key=DEV_AES_KEY).wechat_mode == "plain"
    assert load_config(None, env={}).wechat_mode == "plain"
    env = {"NEWSBOT_WECHAT_ENCODING_AES_KEY": OWN_KEY}
    assert load_config(None, env=env).wechat_mode == "safe"


def test_safe_mode_refuses_a_downgraded_admin_command(safe) -> None:  # type: ignore[no-untyped-def]
    bot, services = safe
    aid = _story(bot)
    before = entries(services.store)
    # what a proxy's log gives away: signature, timestamp, nonce; the body is the attacker's
    r = bot.post_xml(message_xml(user=ADMIN, text=f"#改标题 {aid} 被篡改的标题"))
    assert r.status_code == 403
    # nor does saying encrypt_type=raw, or leaving msg_signature out of an encrypted body, help
    req = sign_request(message_xml(user=ADMIN, text=f"#改标题 {aid} 被篡改的标题"),
                       services.config.wechat["token"], appid=services.config.wechat["appid"],
                       aes_key=OWN_KEY, encrypt=True)
    del req.params["msg_signature"]
    assert bot.http.post("/wechat", params=req.params, content=req.body).status_code == 403
    assert articles.get(services.store, aid).title != "被篡改的标题"
    assert entries(services.store) == before
    # the genuine encrypted message still works, as does a reader's
    assert bot.send(f"#改标题 {aid} 新标题", user=ADMIN, encrypt=True).text.startswith("已修改")
    assert bot.send("帮助", user=READER, encrypt=True).status == 200


def test_safe_mode_takes_an_encrypted_body_whatever_encrypt_type_says(safe) -> None:  # type: ignore[no-untyped-def]
    bot, services = safe
    w = services.config.wechat
    req = sign_request(message_xml(user=READER, text="帮助"), w["token"], appid=w["appid"],
                       aes_key=OWN_KEY, encrypt=True)
    del req.params["encrypt_type"]
    r = bot.http.post("/wechat", params=req.params, content=req.body)
    reply = read_reply(r.status_code, r.text, w["token"], w["appid"], OWN_KEY)
    assert r.status_code == 200 and reply.kind == "text" and reply.text, r.text


def test_compat_mode_answers_plain_readers_but_runs_commands_only_encrypted(compat) -> None:  # type: ignore[no-untyped-def]
    bot, services = compat
    aid = _story(bot)
    assert bot.send("帮助", user=READER).status == 200  # plain, as compat allows
    held = bot.send(f"#改标题 {aid} 被篡改的标题", user=ADMIN)
    assert held.status == 200 and held.text == HELD_UNSIGNED
    assert articles.get(services.store, aid).title != "被篡改的标题"
    assert [e.action for e in entries(services.store)] == ["add"]
    done = bot.send(f"#改标题 {aid} 新标题", user=ADMIN, compat=True, encrypt=True)
    assert done.text.startswith("已修改"), done.text


def test_a_logged_encrypted_request_lends_its_plain_signature_to_nothing(compat) -> None:  # type: ignore[no-untyped-def]
    """WeChat signs an encrypted request twice (signature and msg_signature, over the same
    timestamp and nonce): once its message is in, neither takes another body."""
    bot, services = compat
    w = services.config.wechat
    req = sign_request(message_xml(user=READER, text="帮助"), w["token"], appid=w["appid"],
                       aes_key=OWN_KEY, encrypt=True, compat=True)
    assert bot.http.post("/wechat", params=req.params, content=req.body).status_code == 200
    plain = {k: req.params[k] for k in ("signature", "timestamp", "nonce")}
    forged = message_xml(user="o_victim", text="退订")
    assert bot.http.post("/wechat", params=plain, content=forged.encode()).status_code == 403


def test_plain_mode_answers_an_encrypted_message_it_can_read(bot: Bot) -> None:
    assert bot.config.wechat_mode == "plain"
    assert bot.send("帮助", encrypt=True).kind == "text"


def test_plain_mode_without_a_key_refuses_encrypted_messages(tmp_path: Path, make_bot) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path, "plain", key="")
    s = build_services(cfg)
    try:
        bot = make_bot(s)
        req = sign_request(message_xml(user=READER, text="帮助"), cfg.wechat["token"],
                           appid=cfg.wechat["appid"], aes_key=DEV_AES_KEY, encrypt=True)
        assert bot.http.post("/wechat", params=req.params, content=req.body).status_code == 400
        assert bot.send("帮助", user=READER).status == 200
    finally:
        s.close()


# -- replays ---------------------------------------------------------------------------------------
def _counting(config: Config, runs: list[str]) -> Services:
    routes = Routes()

    @routes(keyword="ping")
    def ping(msg, ctx):  # type: ignore[no-untyped-def]
        runs.append(msg.id)
        return f"pong {len(runs)}"

    return build_services(config, router=Router(routes))


def test_a_nonce_belongs_to_its_first_message(config: Config, make_bot) -> None:  # type: ignore[no-untyped-def]
    runs: list[str] = []
    s = _counting(config, runs)
    try:
        bot, other_worker = make_bot(s), make_bot(_counting(config, runs))
        first = message_xml(user="o_a", text="ping", msgid="9001")
        r1 = bot.post_xml(first, timestamp=None, nonce="424242")
        assert r1.status_code == 200 and "pong 1" in r1.text
        # WeChat's retry: the same message, the same nonce, or a new one: the kept reply
        assert bot.post_xml(first, nonce="424242").text == r1.text
        assert bot.post_xml(first, nonce="515151").text == r1.text
        # another message under the first one's signature: refused, here and on another worker
        forged = message_xml(user="o_b", text="ping", msgid="9002")
        ts = r1.request.url.params["timestamp"]
        assert bot.post_xml(forged, nonce="424242", timestamp=int(ts)).status_code == 403
        assert other_worker.post_xml(forged, nonce="424242", timestamp=int(ts)).status_code == 403
        assert runs == ["9001"]
        assert "pong 2" in bot.post_xml(forged).text  # under a signature of its own
    finally:
        s.close()


def test_an_encrypted_message_replayed_is_only_ever_its_own_retry(safe) -> None:  # type: ignore[no-untyped-def]
    bot, services = safe
    aid = _story(bot)
    w = services.config.wechat
    req = sign_request(message_xml(user=ADMIN, text=f"#改标题 {aid} 第二个标题"), w["token"],
                       appid=w["appid"], aes_key=OWN_KEY, encrypt=True)
    replies = [bot.http.post("/wechat", params=req.params, content=req.body) for _ in range(3)]
    texts = {read_reply(r.status_code, r.text, w["token"], w["appid"], OWN_KEY).text
             for r in replies}
    assert len(texts) == 1 and texts.pop().startswith("已修改")
    assert sorted(e.action for e in entries(services.store)) == ["add", "retitle"]


# -- encodings --------------------------------------------------------------------------------------
def _signed_body(bot: Bot, body: bytes) -> httpx.Response:
    import time

    ts, nonce = str(int(time.time())), "77"
    params = {"signature": sign(bot.config.wechat["token"], ts, nonce), "timestamp": ts,
              "nonce": nonce}
    return bot.http.post("/wechat", params=params, content=body)


def _expanding(encoding: str) -> bytes:
    """A small document whose entities would expand a thousandfold, in ``encoding``."""
    doc = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "' + "x" * 100 + '">'
           + "".join(f'<!ENTITY {c} "' + f"&{p};" * 10 + '">' for p, c in zip("abcd", "bcde"))
           + "]><xml><MsgType>text</MsgType><Content>&e;</Content></xml>")
    return doc.encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16", "utf-16-be", "utf-32",
                                      "utf-32-le"])
def test_bodies_in_utf16_or_utf32_are_refused_before_parsing(bot: Bot, encoding: str) -> None:
    body = _expanding(encoding)
    tracemalloc.start()
    try:
        r = _signed_body(bot, body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(body) < 2048
    assert (r.status_code, r.text) == (400, "only UTF-8 bodies are accepted")
    assert peak < 2 << 20  # nothing was expanded (the text alone would be 1 MB)


@pytest.mark.parametrize("declared", ["GBK", "gb2312", "UTF-16", "ISO-8859-1", "big5"])
def test_a_body_declaring_another_encoding_is_refused(bot: Bot, declared: str) -> None:
    xml = message_xml(user=READER, text="帮助")
    body = f'<?xml version="1.0" encoding="{declared}"?>{xml}'.encode()
    r = _signed_body(bot, body)
    assert (r.status_code, r.text) == (400, "only UTF-8 bodies are accepted")


def test_a_body_declaring_utf8_is_read(bot: Bot) -> None:
    xml = message_xml(user=READER, text="帮助")
    r = _signed_body(bot, f'<?xml version="1.0" encoding="UTF-8"?>{xml}'.encode())
    assert r.status_code == 200 and "<xml>" in r.text


def test_a_utf8_byte_order_mark_is_skipped(bot: Bot) -> None:
    xml = message_xml(user=READER, text="帮助")
    r = bot.post_xml("\ufeff" + xml)
    assert r.status_code == 200 and "<xml>" in r.text


# -- the state backend failing ------------------------------------------------------------------------
def test_redis_down_answers_readers_holds_admins_and_health_says_degraded(
    tmp_path: Path, make_bot, caplog  # type: ignore[no-untyped-def]
) -> None:
    cfg = load_config(write_config(tmp_path, f'[admin]\nopenids = ["{ADMIN}"]\n'), env={})
    dead = RedisState(f"redis://127.0.0.1:{free_port()}/0", cooldown=0.05)
    s = build_services(cfg, state=dead)
    try:
        bot = make_bot(s)
        with caplog.at_level(logging.WARNING):
            readers = [bot.send("帮助", user=f"o_r{i}") for i in range(5)]
            held = bot.send(STORY, user=ADMIN)
        assert all(r.status == 200 and r.kind == "text" for r in readers)
        assert held.text == HELD_DEGRADED and articles.count(s.store) == 0
        health = bot.http.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        warnings = [r for r in caplog.records if "state backend unavailable" in r.getMessage()]
        assert len(warnings) == 1  # once a minute, not once a message
        assert not any(r.exc_info for r in caplog.records)  # and no traceback
    finally:
        s.close()


def test_a_full_state_disk_is_answered_in_degraded_mode(tmp_path: Path) -> None:
    """A real ``newsbot serve`` whose state file stops growing (a file-size limit set on the
    running process, as a full disk would): readers keep their answers, an admin's command
    waits politely, /healthz stays 200 and says degraded; one warning, no traceback; and all
    is well again once the disk has room."""
    import os
    import resource
    import subprocess
    import sys
    import threading

    import httpx

    from tests.conftest import ROOT, stop_server, wait_healthy

    cfg = write_config(tmp_path, f'[admin]\nopenids = ["{ADMIN}"]\n[server]\nreply_budget = 30.0\n')
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    proc = subprocess.Popen(
        # SIGXFSZ ignored: a write past the limit then fails as on a full disk, instead of
        # killing the process
        [sys.executable, "-c", ("import signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
                                " from bot.cli import main; main()"),
         "--config", str(cfg), "serve", "--port", str(port)],
        env={**clean, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []  # a pipe, not a file: the limit must not silence the log
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        config = load_config(cfg, env={})
        with httpx.Client(base_url=url, timeout=60) as c:
            bot = Bot(c, config)
            assert bot.send("帮助", user=READER).kind == "text"
            wal = tmp_path / "state.db-wal"
            full = wal.stat().st_size if wal.exists() else 0
            unlimited = resource.RLIM_INFINITY
            resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (full, unlimited))

            readers = [bot.send("帮助", user=f"o_r{i}") for i in range(6)]
            held = bot.send(STORY, user=ADMIN)
            health = c.get("/healthz")
            assert all(r.status == 200 and r.kind == "text" for r in readers)
            assert held.text == HELD_DEGRADED
            assert health.status_code == 200 and health.json()["status"] == "degraded"

            resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (unlimited, unlimited))
            assert bot.send(STORY, user=ADMIN).text.startswith("已添加 #")
            assert c.get("/healthz").json()["status"] == "ok"
    finally:
        stop_server(proc)
        reader.join(timeout=10)
    log = "".join(lines)
    assert log.count("state backend unavailable") == 1, log
    assert "state backend is back" in log and "Traceback" not in log, log


def test_newsbot_send_signs_as_the_mode_wants(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.app import create_app
    from bot.cli import main
    from tests.conftest import LiveServer

    cfg = _config(tmp_path, "safe")
    s = build_services(cfg)
    try:
        with LiveServer(create_app(s)) as srv:
            out = CliRunner().invoke(main, ["--config", str(cfg.path), "send", "帮助",
                                            "--url", f"{srv.url}/wechat"])
        assert out.exit_code == 0, out.output
        assert "订阅" in out.output  # the help text, from a safe-mode bot
    finally:
        s.close()
