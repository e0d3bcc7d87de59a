"""The PostgreSQL store down or failing over: readers are asked to try again later (never a 500
or silence), admins hear that the store is unavailable, /healthz says so, the CLI says so in
one line, the scheduled digest waits and then sends; all of it resumes when the server is back.

Each test runs its own PostgreSQL cluster, since it stops the server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.app import build_services
from bot.cli import main
from bot.config import Config, load_config
from bot.router import STORE_DOWN_ADMIN, STORE_DOWN_TEXT
from store import articles, subscribers
from store.articles import Article
from tests.conftest import Bot, write_config
from tests.digest_support import delivered
from tests.pg_support import Cluster, create_database, find_bin

ADMIN = "o_admin_outage"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if find_bin("initdb") is None:
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed: no server to stop and start")
    c = Cluster()
    try:
        c.start()
    except Exception as e:  # noqa: BLE001 - said in the skip
        c.remove()
        pytest.skip(f"a private PostgreSQL cluster did not start: {e}")
    yield c
    c.remove()


@pytest.fixture
def pg_config(tmp_path: Path, cluster: Cluster) -> Config:
    url = create_database(cluster.url, "newsbot")
    extra = f'[admin]\nopenids = ["{ADMIN}"]\n[server]\nreply_budget = 30.0\n'
    store = f'backend = "postgres"\nurl = "{url}"\nconnect_timeout = 1.0'
    folder = tmp_path / "pg"  # apart from the default config other fixtures write
    folder.mkdir()
    cfg = load_config(write_config(folder, extra, store=store), env={})
    cfg.values["wechat"]["api_base_url"] = "http://127.0.0.1:9"
    return cfg


def test_readers_admins_health_and_cli_while_the_server_is_down(
        pg_config: Config, cluster: Cluster, make_bot) -> None:  # type: ignore[no-untyped-def]
    services = build_services(pg_config)
    try:
        bot: Bot = make_bot(services)
        aid, _ = articles.save(services.store, Article(
            title="社区食堂开张", body=["银杏社区党支部牵头开办的社区食堂今天开张。"], source="t"))
        assert "社区食堂开张" in bot.send("食堂").render()
        assert bot.http.get("/healthz").json()["store"] == "postgres"

        cluster.stop()
        reply = bot.send("食堂")
        assert reply.status == 200 and reply.text == STORE_DOWN_TEXT
        admin = bot.send(f"#查看 {aid}", user=ADMIN)
        assert admin.status == 200 and admin.text == STORE_DOWN_ADMIN
        health = bot.http.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert health.json()["store"] == "postgres unavailable"
        r = CliRunner().invoke(main, ["--config", str(pg_config.path), "list"])
        assert r.exit_code == 1 and "cannot be reached" in r.output
        assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1

        cluster.restart()
        assert "社区食堂开张" in bot.send("食堂").render()
        assert bot.http.get("/healthz").json()["status"] == "ok"
        assert "社区食堂开张" in bot.send(f"#查看 {aid}", user=ADMIN).render()
    finally:
        services.close()


def test_the_scheduled_digest_waits_for_the_store_and_then_sends(
        pg_config: Config, cluster: Cluster, config: Config,
        emulator) -> None:  # type: ignore[no-untyped-def]
    from bot.scheduler import scheduled_digest

    pg_config.values["wechat"]["api_base_url"] = config.wechat["api_base_url"]  # the emulator
    services = build_services(pg_config)
    try:
        emulator.follow("o_reader")
        emulator.user_spoke("o_reader")
        subscribers.subscribe(services.store, "o_reader", ["社区"])
        subscribers.touch(services.store, "o_reader")
        articles.save(services.store, Article(
            title="社区议事会召开", body=["居民代表在社区议事会上商量加装电梯。"], source="t",
            categories=["社区"]))
        cluster.stop()
        job = scheduled_digest(services, busy_wait=0.1, store_wait=0.2)
        run = threading.Thread(target=job, args=("2026-12-07",))
        run.start()
        run.join(timeout=2)
        assert run.is_alive()  # waiting for the store, not given up
        assert not delivered(emulator)
        cluster.restart()
        run.join(timeout=120)
        assert not run.is_alive()
        assert delivered(emulator) == {"o_reader": 1}
        assert "社区议事会召开" in str(emulator.deliveries[0])
    finally:
        services.close()


def test_a_turn_of_the_event_loop_tries_a_store_out_of_reach_once(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """The messages of one turn of the webhook's loop share one read of the store's counters;
    when the server is down, the first one's wait for a connection is the turn's only wait (the
    others hear "try again later" at once), and the next turn tries again."""
    import asyncio

    from handlers.generations import Counters
    from handlers.rules import RuleCache
    from handlers.search_cache import SearchCache
    from store import generations
    from store.db import StoreUnavailable, open_store

    store = open_store(create_database(cluster.url, "turns"), pool_size=1, connect_timeout=1.0)
    reads: list[int] = []
    real = generations.read

    def counted(s: object) -> generations.Generations:
        reads.append(1)
        return real(s)  # type: ignore[arg-type]

    monkeypatch.setattr(generations, "read", counted)
    counters = Counters()
    cache, rule_cache = SearchCache(counters=counters), RuleCache(counters)

    async def turns() -> None:
        cluster.stop()
        for look in (lambda: cache.search(store, "食堂", 5, 0), lambda: rule_cache.book(store),
                     lambda: cache.search(store, "养老", 5, 0)):
            with pytest.raises(StoreUnavailable):
                look()
        assert len(reads) == 1
        await asyncio.sleep(0)
        with pytest.raises(StoreUnavailable):
            rule_cache.book(store)
        assert len(reads) == 2
        cluster.restart()
        await asyncio.sleep(0)
        assert cache.search(store, "食堂", 5, 0).total == 0 and len(reads) == 3

    try:
        asyncio.run(turns())
    finally:
        store.close()
