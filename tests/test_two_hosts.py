"""Two hosts behaving as one: two ``newsbot serve`` processes, each with its own working folder
and config, sharing one store and one Redis, as two web hosts behind a load balancer do.

The store is PostgreSQL where this build has that backend and a server can be had; the same
tests also run with both hosts on one SQLite file (two processes of one host), which is what
one machine can share without a database server.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from digest_support import add_people, add_stories, delivered
from test_multiprocess import BotProcess, leader_pids, post, wait_for

from bot.callback import BotReply, message_xml
from bot.config import SCHEMA, Config, load_config
from bot.emulator import Emulator
from store.db import open_store

APPID, SECRET = "wxtestappid000001", "testsecret"
ADMIN = "o_admin_1"
NEWSBOT = [sys.executable, "-c", "from bot.cli import main; main()"]
LEADER_TTL = 2.0


def store_section(request: pytest.FixtureRequest, kind: str, shared: Path) -> str:
    if kind == "sqlite":
        return f'[store]\npath = "{shared / "store.db"}"\n'
    if "backend" not in SCHEMA["store"]:
        pytest.skip("this build has no PostgreSQL store backend ([store] backend)")
    url = request.getfixturevalue("pg_url")
    return f'[store]\nbackend = "postgres"\nurl = "{url}"\n'


@dataclass
class Hosts:
    emu: Emulator
    a: Path  # host A's config (its own folder)
    b: Path  # host B's config
    store: str  # what open_store takes for the shared store

    def config(self, path: Path) -> Config:
        return load_config(path, env={})


def host_config(folder: Path, store: str, redis_url: str, emu_url: str, extra: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "newsbot.toml"
    path.write_text(
        f"""
[wechat]
token = "testtoken"
appid = "{APPID}"
appsecret = "{SECRET}"
encoding_aes_key = "bmV3c2JvdC1kZXZlbG9wbWVudC1rZXktZm9yLWxvYyE"
api_base_url = "{emu_url}"

{store}
[state]
backend = "redis"
url = "{redis_url}"

[admin]
openids = ["{ADMIN}"]

[server]
reply_budget = 30.0  # a fresh process loads its text models with its first story
{extra}
""",
        encoding="utf-8",
    )
    return path


def make_hosts(
    request: pytest.FixtureRequest, tmp_path: Path, emu: Emulator, digest: str
) -> Hosts:
    kind = request.param
    redis_url = request.getfixturevalue("redis_url")
    store = store_section(request, kind, tmp_path / "shared")
    (tmp_path / "shared").mkdir(exist_ok=True)
    a = host_config(tmp_path / "host-a", store, redis_url, str(emu.url), digest)
    b = host_config(tmp_path / "host-b", store, redis_url, str(emu.url), digest)
    cfg = load_config(a, env={})
    spec = cfg.store["url"] if kind != "sqlite" else str(cfg.resolve(cfg.store["path"]))
    return Hosts(emu, a, b, spec)


@pytest.fixture(params=("sqlite", "postgres"))
def hosts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hosts]:
    with Emulator(APPID, SECRET) as emu:
        yield make_hosts(request, tmp_path, emu, "[digest]\nenabled = false\n")


def started(*paths: Path, env: dict[str, str] | None = None) -> list[BotProcess]:
    """The hosts, started one after the other (the first one creates the store's schema)."""
    bots = []
    for p in paths:
        bots.append(BotProcess(p, env=env))
        bots[-1].wait_ready()
    return bots


def say(h: Hosts, bot: BotProcess, user: str, text: str) -> BotReply:
    return post(h.config(bot_config(bot)), bot.url, message_xml(user=user, text=text))


def bot_config(bot: BotProcess) -> Path:
    return bot.log.parent / "newsbot.toml"


def story_id(reply: BotReply) -> int:
    found = re.search(r"#(\d+)", reply.text)
    assert found, reply.render()
    return int(found.group(1))


def digest_send(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NEWSBOT, "--config", str(config), "digest", "send", "--no-progress"],
                          check=False, capture_output=True, text=True, timeout=120)


def test_a_subscriber_of_b_gets_a_story_added_on_a_once(hosts: Hosts) -> None:
    reader = "o_reader_1"
    hosts.emu.follow(reader)
    hosts.emu.user_spoke(reader)
    a, b = started(hosts.a, hosts.b)
    try:
        assert "订阅" in say(hosts, b, reader, "订阅 社区").text
        added = say(hosts, a, ADMIN, "#添加 社区食堂开到家门口\n"
                    "新开的社区食堂为老年人提供午餐，价格实惠，志愿者帮忙送餐上门。")
        assert "已添加" in added.text, added.render()
        aid = story_id(added)
        assert "已设定" in say(hosts, a, ADMIN, f"#分类 {aid} 社区").text
        first = digest_send(hosts.b)  # the digest run from B's folder
        again = digest_send(hosts.a)  # and then from A's: nothing new
    finally:
        for bot in (a, b):
            bot.stop()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "发送 1/1" in first.stdout
    assert again.returncode == 0 and "没有新闻" in again.stdout, again.stdout + again.stderr
    assert delivered(hosts.emu) == {reader: 1}
    assert "社区食堂开到家门口" in hosts.emu.deliveries[0]["content"]


def test_a_draft_begun_on_a_is_finished_on_b_and_a_pick_on_b_opens_what_a_listed(
    hosts: Hosts,
) -> None:
    a, b = started(hosts.a, hosts.b)
    try:
        for n in range(3):
            say(hosts, a, ADMIN, f"#添加 网格员走访第{n}片区\n"
                f"网格员上门走访独居老人，第{n}片区的居民说起小区的变化。")
        opened = say(hosts, a, ADMIN, "#添加 网格员的一天")
        say(hosts, b, ADMIN, "清晨六点，网格员已经在小区里转了一圈。")
        done = say(hosts, b, ADMIN, "#完成")
        draft_id = story_id(done)
        on_a = httpx.get(a.url + f"/articles/{draft_id}", timeout=10)  # its page, from A

        listed = say(hosts, a, "o_reader_2", "网格员")
        picked = say(hosts, b, "o_reader_2", "1")
    finally:
        for bot in (a, b):
            bot.stop()
    assert "草稿" in opened.text, opened.render()
    assert "网格员的一天" in done.text, done.render()
    assert on_a.status_code == 200 and "清晨六点" in on_a.text
    first = [ln for ln in listed.text.splitlines() if ln.startswith("1. ")]
    assert first, listed.render()
    assert picked.kind == "text" and picked.text.startswith(f"【{first[0][3:]}】"), picked.render()


@pytest.fixture(params=("sqlite", "postgres"))
def due_hosts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hosts]:
    """Both hosts run the schedule; the day's digest fell due two minutes ago."""
    due = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(minutes=2)).strftime("%H:%M")
    digest = (f'[digest]\nenabled = true\ntime = "{due}"\ntimezone = "Asia/Shanghai"\n'
              f"misfire_grace = 3600\nleader_ttl = {LEADER_TTL}\nlease_ttl = 3.0\n"
              "concurrency = 2\n")
    # The calls in flight when the leader dies reach WeChat and are sent again by the run that
    # takes over, with their clientmsgid; the emulator honours it here, as WeChat does for mass
    # sends (for customer-service messages it documents none: docs/digest.md gives the bound).
    with Emulator(APPID, SECRET, custom_clientmsgid=True) as emu:
        yield make_hosts(request, tmp_path, emu, digest)


def test_the_leader_killed_mid_digest_is_replaced_and_nobody_gets_two_copies(
    due_hosts: Hosts,
) -> None:
    h = due_hosts
    store = open_store(h.store)
    add_stories(store, 2)
    people = add_people(store, h.emu, 240)
    store.close()
    # long enough (about 10 s at 2 calls at a time) to be under way once both hosts are up
    h.emu.inject("latency", "message/custom/send", seconds=0.1)
    bots = started(h.a, h.b)
    try:
        first = wait_for("a leader", lambda: leader_pids(bots), 30)
        leader = next(b for b in bots if b.proc.pid == first[0])
        other = next(b for b in bots if b is not leader)
        wait_for("the digest under way", lambda: len(h.emu.deliveries) >= 20, 60)
        leader.stop(signal.SIGKILL)  # mid-digest, no clean shutdown
        assert len(h.emu.deliveries) < len(people.inside), "the digest ended before the kill"
        wait_for("the other host to lead", lambda: leader_pids([other]), LEADER_TTL * 5 + 10)
        wait_for("its run", lambda: "digest for" in other.output(), 120)
        time.sleep(0.5)
    finally:
        for b in bots:
            b.stop()
    assert "续发摘要" in other.output() and "未重复推送" in other.output(), other.output()[-3000:]
    assert delivered(h.emu) == dict.fromkeys(people.inside, 1)
