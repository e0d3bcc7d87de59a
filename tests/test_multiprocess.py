"""Several bot processes sharing one state: a SQLite file (one host) or one Redis (many hosts).

Each bot is a real ``newsbot serve`` OS process on its own loopback port. A search is handled
once per handling, and each handling writes one ``query_log`` row to the shared store: that
row count is how the tests see how many times a handler really ran.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from digest_support import add_people, add_stories, delivered

from bot.callback import BotReply, message_xml, read_reply, sign_request
from bot.config import Config, load_config
from bot.emulator import Emulator
from store import articles
from store.articles import Article
from store.db import LATER_EVERY, open_store
from tests.conftest import NOWHERE, free_port, wait_healthy, write_config

NEWSBOT = [sys.executable, "-c", "from bot.cli import main; main()"]
BACKENDS = ("sqlite", "redis")


class BotProcess:
    """``newsbot --config C serve --port P [--workers N]`` as its own OS process."""

    def __init__(self, config_path: Path, *, workers: int = 1, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
        self.log = config_path.parent / f"bot-{self.port}.log"
        self.proc = subprocess.Popen(
            [
                *NEWSBOT,
                "--config",
                str(config_path),
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env={**clean, **(env or {})},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a kill reaches uvicorn's worker processes too
        )

    def wait_ready(self, timeout: float = 60) -> None:
        try:
            wait_healthy(self.url, self.proc, timeout)
        except AssertionError:
            raise AssertionError(f"bot on {self.port} did not start:\n{self.output()}") from None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def bot_config(tmp_path: Path, backend: str, redis_url: str | None, extra: str = "") -> Path:
    state = f'backend = "redis"\nurl = "{redis_url}"\n' if backend == "redis" else ""
    return write_config(tmp_path, state + "\n[digest]\nenabled = false\n" + extra)


@pytest.fixture(params=BACKENDS)
def shared_config(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A config whose state is a SQLite file or a Redis database, and a store with stories."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    path = bot_config(tmp_path, request.param, url)
    cfg = load_config(path, env={})
    store = open_store(cfg.resolve(cfg.store["path"]))
    for title, text in STORIES:
        articles.save(
            store, Article(title=title, body=[text], source="测试报", categories=["社区"])
        )
    store.close()
    return path


# Short stories written for these tests.
STORIES = [
    ("网格员走进老旧小区", "网格员每天上门走访独居老人，记下需要帮助的事项，第二天就有回音。"),
    ("社区食堂开到家门口", "新开的社区食堂为老年人提供午餐，价格实惠，志愿者帮忙送餐上门。"),
]


@pytest.fixture
def two_bots(shared_config: Path) -> Iterator[list[BotProcess]]:
    bots = [BotProcess(shared_config), BotProcess(shared_config)]
    try:
        for b in bots:
            b.wait_ready()
        yield bots
    finally:
        for b in bots:
            b.stop()


def post(cfg: Config, url: str, xml: str) -> BotReply:
    w = cfg.wechat
    req = sign_request(xml, w["token"], appid=w["appid"], aes_key=w["encoding_aes_key"])
    r = httpx.post(f"{url}/wechat", params=req.params, content=req.body, timeout=30)
    return read_reply(r.status_code, r.text, w["token"], w["appid"], w["encoding_aes_key"])


def handled(cfg: Config, query: str) -> int:
    """How many times a search for ``query`` was handled (one query_log row each). The bots
    land their rows every LATER_EVERY seconds: wait for the first, then for any late ones."""
    store = open_store(cfg.resolve(cfg.store["path"]))

    def count() -> int:
        sql = "SELECT COUNT(*) FROM query_log WHERE query = ?"
        return int(store.db.execute(sql, (query,)).fetchone()[0])

    try:
        deadline = time.monotonic() + 10
        while count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(4 * LATER_EVERY)  # a second handling's row would have landed by now
        return count()
    finally:
        store.close()


def test_same_message_to_two_processes_at_once_is_handled_once(
    shared_config: Path, two_bots: list[BotProcess]
) -> None:
    cfg = load_config(shared_config, env={})
    for round_ in range(5):
        query = f"网格员 {round_}"
        xml = message_xml(user="o_user_7", text=query, msgid=f"61000{round_}")
        # The same signed body goes to both processes at the same moment, as a retry that a
        # load balancer routes to another worker would.
        with ThreadPoolExecutor(2) as pool:
            replies = list(pool.map(lambda b, x=xml: post(cfg, b.url, x), two_bots))
        assert [r.status for r in replies] == [200, 200]
        assert replies[0].kind != "success" and replies[0].raw == replies[1].raw
        assert handled(cfg, query) == 1


def test_three_retries_one_handling_three_identical_replies(
    shared_config: Path, two_bots: list[BotProcess]
) -> None:
    cfg = load_config(shared_config, env={})
    xml = message_xml(user="o_user_8", text="社区食堂", msgid="62000001")
    replies = [post(cfg, two_bots[i % 2].url, xml) for i in range(3)]
    assert replies[0].kind in ("text", "news")
    assert "社区食堂" in replies[0].render()
    assert replies[0].raw == replies[1].raw == replies[2].raw
    assert handled(cfg, "社区食堂") == 1


def test_serve_with_workers_shares_dedup_between_them(shared_config: Path) -> None:
    cfg = load_config(shared_config, env={})
    bot = BotProcess(shared_config, workers=3)
    try:
        bot.wait_ready()
        queries = [f"食堂 {i}" for i in range(8)]
        for i, q in enumerate(queries):
            xml = message_xml(user=f"o_user_{i}", text=q, msgid=f"63000{i}")
            # Six copies at once over separate connections: the workers each take some.
            with ThreadPoolExecutor(6) as pool:
                replies = list(pool.map(lambda _, x=xml: post(cfg, bot.url, x), range(6)))
            assert {r.status for r in replies} == {200}
            assert len({r.raw for r in replies}) == 1 and replies[0].kind != "success"
        assert [handled(cfg, q) for q in queries] == [1] * len(queries)
        help_reply = post(cfg, bot.url, message_xml(user="o_user_1", text="帮助"))
        assert "帮助" in help_reply.text
    finally:
        bot.stop()
    assert "Traceback" not in bot.output()


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_processes_fetch_one_token_between_them(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url") if backend == "redis" else None
    with Emulator("wxtestappid000001", "testsecret") as emu:
        # reply_budget 0: every reply misses the budget and goes out by the customer-service
        # API, so each process needs the access token as soon as it answers.
        path = bot_config(tmp_path, backend, url, "[server]\nreply_budget = 0.0\n")
        path.write_text(
            path.read_text(encoding="utf-8").replace(
                f'api_base_url = "{NOWHERE}"', f'api_base_url = "{emu.url}"', 1
            ),
            encoding="utf-8",
        )
        cfg = load_config(path, env={})
        bots = [BotProcess(path), BotProcess(path)]
        try:
            for b in bots:
                b.wait_ready()
            users = ["o_late_a", "o_late_b"]
            for u in users:
                emu.user_spoke(u)
            with ThreadPoolExecutor(2) as pool:
                replies = list(
                    pool.map(
                        lambda i: post(cfg, bots[i].url, message_xml(user=users[i], text="帮助")),
                        range(2),
                    )
                )
            assert [r.kind for r in replies] == ["success", "success"]
            deadline = time.monotonic() + 30
            while len(emu.deliveries) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            for b in bots:
                b.stop()
        assert sorted(d["openid"] for d in emu.deliveries) == users
        assert all("帮助" in d["content"] for d in emu.deliveries)
        # One request for a token between the two processes (the other took it from the state).
        assert emu.stats()["calls:stable_token"] == 1
        assert emu.token_fetches == 1


def wait_for(what: str, check, timeout: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def digest_due(
    tmp_path: Path, backend: str, url: str | None, emu: Emulator, leader_ttl: float
) -> Path:
    """A config whose daily digest fell due two minutes ago (within the misfire grace), so
    whichever process leads sends it late, at once."""
    state = f'backend = "redis"\nurl = "{url}"\n' if backend == "redis" else ""
    due = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(minutes=2)).strftime("%H:%M")
    path = write_config(
        tmp_path,
        state
        + f"""
[digest]
enabled = true
time = "{due}"
timezone = "Asia/Shanghai"
misfire_grace = 3600
leader_ttl = {leader_ttl}
""",
    )
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            f'api_base_url = "{NOWHERE}"', f'api_base_url = "{emu.url}"', 1
        ),
        encoding="utf-8",
    )
    return path


def digest_audience(path: Path, emu: Emulator):  # type: ignore[no-untyped-def]
    """Stories in both categories and subscribers inside their 48 h window."""
    cfg = load_config(path, env={})
    store = open_store(cfg.resolve(cfg.store["path"]))
    add_stories(store, 2)
    people = add_people(store, emu, 12)
    store.close()
    return people


def leader_pids(bots: list[BotProcess]) -> list[int]:
    """The bots whose log says their scheduler became the digest leader."""
    return [
        b.proc.pid
        for b in bots
        if re.search(rf"scheduler \S+:{b.proc.pid}:\S+: leader", b.output())
    ]


LEADER_TTL = 2.0  # seconds: short, so a takeover happens within a test


@dataclass
class DueDigest:
    emu: Emulator
    path: Path  # the bots' config
    people: Any  # digest_support.add_people's audience


@pytest.fixture(params=BACKENDS)
def due(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DueDigest]:
    """A digest due two minutes ago, its stories and audience, and the emulator it goes to."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    with Emulator("wxtestappid000001", "testsecret") as emu:
        path = digest_due(tmp_path, request.param, url, emu, LEADER_TTL)
        yield DueDigest(emu, path, digest_audience(path, emu))


def test_killed_scheduler_leader_is_replaced_and_no_digest_goes_twice(due: DueDigest) -> None:
    emu, path, people = due.emu, due.path, due.people
    bots = [BotProcess(path), BotProcess(path)]
    try:
        for b in bots:
            b.wait_ready()
        first = wait_for("a leader", lambda: leader_pids(bots), 30)
        time.sleep(LEADER_TTL)  # several renewal rounds: the other must stay a follower
        assert len(first) == 1 and leader_pids(bots) == first
        leader = next(b for b in bots if b.proc.pid == first[0])
        other = next(b for b in bots if b is not leader)
        wait_for("the digest", lambda: "digest for" in leader.output(), 60)
        assert delivered(emu) == dict.fromkeys(people.inside, 1)

        leader.stop(signal.SIGKILL)  # no clean shutdown: the lock is left to expire
        wait_for("the other process to lead", lambda: leader_pids([other]), LEADER_TTL * 5 + 10)
        # The new leader catches up the same day's run and finds it already sent.
        wait_for("the new leader's run", lambda: "digest for" in other.output(), 60)
    finally:
        for b in bots:
            b.stop()
    assert "未重复推送" in other.output()
    assert delivered(emu) == dict.fromkeys(people.inside, 1)
    assert len(emu.deliveries) == len(people.inside)


def test_serve_with_workers_runs_one_schedule(due: DueDigest) -> None:
    emu, path, people = due.emu, due.path, due.people
    bot = BotProcess(path, workers=3)
    try:
        bot.wait_ready()
        wait_for("the digest", lambda: "digest for" in bot.output(), 60)
        time.sleep(LEADER_TTL)  # several renewal rounds of all three workers
        running = bot.output()  # the log while all three run
    finally:
        bot.stop()
    leaders = re.findall(r"newsbot\.scheduler scheduler (\S+): leader", running)
    started = re.findall(r"newsbot\.scheduler scheduler (\S+) started", running)
    assert len(set(started)) == 3  # every worker runs a scheduler...
    assert len(leaders) == 1, running[-6000:]  # ...and one of them leads
    # While the workers stop, one that is still up may take over the released lock: a
    # hand-over, which must come after the leader let go and must not send again.
    full = bot.output()
    released = full.find(f"scheduler {leaders[0]} stopped, leader lock released")
    assert released > 0, full[-6000:]
    for later in re.finditer(r"newsbot\.scheduler scheduler (\S+): leader", full):
        assert later.group(1) == leaders[0] or later.start() > released, full[-6000:]
    assert delivered(emu) == dict.fromkeys(people.inside, 1)
