"""Store writes: a user's last_seen is written at most once a minute per process, the
threads of one process take turns writing without errors or lost rows, and rows queued with
``write_later`` land by themselves, on flush and on close."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from bot.app import Services
from store import subscribers
from store.db import Store, open_store
from tests.conftest import Bot


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "news.db")


def seen(store: Store, openid: str) -> float | None:
    sub = subscribers.get(store, openid)
    assert sub is not None
    return sub.last_seen


def test_a_second_touch_within_a_minute_is_not_written(store: Store) -> None:
    subscribers.touch(store, "o_a", at=1000.0)
    subscribers.touch(store, "o_a", at=1059.0)
    assert seen(store, "o_a") == 1000.0
    subscribers.touch(store, "o_b", at=1059.0)  # another user is written at once
    assert seen(store, "o_b") == 1059.0
    subscribers.touch(store, "o_a", at=1060.0)  # the interval has passed
    assert seen(store, "o_a") == 1060.0
    subscribers.touch(store, "o_a", at=1100.0)
    assert seen(store, "o_a") == 1060.0


def test_an_earlier_time_is_written_and_other_stores_keep_their_own_notes(
    store: Store, tmp_path: Path
) -> None:
    subscribers.touch(store, "o_a", at=5000.0)
    subscribers.touch(store, "o_a", at=100.0)  # set back on purpose (a test, an import)
    assert seen(store, "o_a") == 100.0
    other = Store(tmp_path / "news.db")  # as another worker process would open it
    subscribers.touch(other, "o_a", at=110.0)
    assert seen(store, "o_a") == 110.0
    subscribers.touch(store, "o_a", at=120.0)  # this store last wrote 100.0 itself
    assert seen(store, "o_a") == 110.0


def test_the_notes_are_bounded_and_forget_the_oldest_user(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subscribers, "TOUCH_MEMO_SIZE", 3)
    for i in range(4):
        subscribers.touch(store, f"o_{i}", at=1000.0)
    subscribers.touch(store, "o_0", at=1001.0)  # forgotten: written again
    subscribers.touch(store, "o_3", at=1001.0)  # still noted: not written
    assert seen(store, "o_0") == 1001.0
    assert seen(store, "o_3") == 1000.0
    assert len(store.memo["subscribers.touched"].at) == 3


def test_a_rolled_back_touch_is_not_taken_as_written(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        subscribers.touch(store, "o_a", at=1000.0)
        raise RuntimeError("the surrounding change failed")
    assert subscribers.get(store, "o_a") is None
    subscribers.touch(store, "o_a", at=1001.0)
    assert seen(store, "o_a") == 1001.0


def test_a_second_message_within_a_minute_keeps_the_first_last_seen(
    bot: Bot, services: Services
) -> None:
    bot.send("帮助", user="o_twice")
    first = seen(services.store, "o_twice")
    time.sleep(0.01)
    bot.send("养老", user="o_twice")
    assert seen(services.store, "o_twice") == first
    assert first is not None and abs(first - time.time()) < 60


def test_many_threads_writing_at_once_do_not_error(store: Store) -> None:
    threads, rounds = 8, 40
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(rounds):
                user = f"o_{t}_{i % 5}"
                subscribers.touch(store, user, at=1000.0 + i * 61)
                store.write(
                    'INSERT INTO query_log (at, "user", "query", hits) VALUES (?, ?, ?, ?)',
                    ("2024-01-01T00:00:00+00:00", user, f"q{i}", i),
                )
                subscribers.subscribe(store, user, ["社区"])
                subscribers.set_following(store, user, i % 2 == 0)
                # nested: the inner one joins the outer one and takes no second turn
                with store.transaction(), store.transaction():
                    store.write("INSERT INTO meta (key, value) VALUES (?, ?)", (f"t.{t}.{i}", "x"))
                if i % 10 == 0:
                    with pytest.raises(ValueError), store.transaction():
                        store.write("INSERT INTO meta (key, value) VALUES (?, ?)",
                                    (f"t.{t}.{i}r", "x"))
                        raise ValueError("rolled back; the turn passes on")
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
        finally:
            store.close()

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(timeout=120)
    assert not [th for th in pool if th.is_alive()]
    assert errors == []
    db = store.db
    assert db.execute("SELECT count(*) FROM query_log").fetchone()[0] == threads * rounds
    assert db.execute("SELECT count(*) FROM meta WHERE key LIKE 't.%r'").fetchone()[0] == 0
    keys = [r[0] for r in db.execute("SELECT key FROM meta WHERE key LIKE 't.%'")]
    assert len(keys) == threads * rounds, sorted(keys)[:5]
    assert db.execute("SELECT count(*) FROM subscribers").fetchone()[0] == threads * 5
    assert seen(store, "o_0_4") == 1000.0 + 39 * 61


def test_a_writer_waits_for_its_turn_no_longer_than_its_busy_timeout(store: Store) -> None:
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction():
            store.write("INSERT INTO meta (key, value) VALUES ('t.k', 'v')")
            held.set()
            done.wait(30)
        store.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        store.db.execute("PRAGMA busy_timeout=50")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            store.write("INSERT INTO meta (key, value) VALUES ('t.k2', 'v')")
        with pytest.raises(sqlite3.OperationalError, match="locked"), store.transaction():
            pass
    finally:
        done.set()
        holder.join(30)
    store.db.execute("PRAGMA busy_timeout=10000")
    store.write("INSERT INTO meta (key, value) VALUES ('t.k2', 'v')")
    assert store.db.execute("SELECT count(*) FROM meta WHERE key LIKE 't.%'").fetchone()[0] == 2


# -- rows written later (Store.write_later) ---------------------------------------------------
LOG_ROW = 'INSERT INTO query_log (at, "user", "query", hits) VALUES (?, ?, ?, ?)'


def _logged(path: Path) -> list[str]:
    """The queries in the file, read through a connection of its own (another process's view)."""
    other = open_store(path)
    try:
        return [r[0] for r in other.db.execute("SELECT query FROM query_log ORDER BY id")]
    finally:
        other.close()


def test_queued_rows_land_by_themselves_in_order(store: Store) -> None:
    for i in range(5):
        store.write_later(LOG_ROW, ("2024-01-01T00:00:00+00:00", "o_q", f"q{i}", i))
    deadline = time.monotonic() + 10
    while len(_logged(store.path)) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _logged(store.path) == [f"q{i}" for i in range(5)]


def test_flush_lands_queued_rows_at_once_and_close_lands_the_rest(tmp_path: Path) -> None:
    s = open_store(tmp_path / "later.db")
    s.write_later(LOG_ROW, ("2024-01-01T00:00:00+00:00", "o_q", "first", 1))
    s.flush()
    assert _logged(s.path) == ["first"]
    s.write_later(LOG_ROW, ("2024-01-01T00:00:00+00:00", "o_q", "second", 1))
    s.close()
    assert _logged(s.path) == ["first", "second"]
    # a store used again after close queues and lands as before
    s.write_later(LOG_ROW, ("2024-01-01T00:00:00+00:00", "o_q", "third", 1))
    s.flush()
    assert _logged(s.path) == ["first", "second", "third"]
    s.close()


def test_a_bad_queued_row_costs_only_itself(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.write_later(LOG_ROW, ("2024-01-01T00:00:00+00:00", "o_q", "before", 1))
    store.write_later("INSERT INTO no_such_table VALUES (?)", (1,))
    store.write_later(LOG_ROW, ("2024-01-01T00:00:00+00:00", "o_q", "after", 1))
    with caplog.at_level(logging.ERROR, logger="newsbot.store"):
        store.flush()
    assert _logged(store.path) == ["before", "after"]
    assert "1 of 3 queued rows not written" in caplog.text


def test_rows_queued_from_many_threads_all_land_once(store: Store) -> None:
    threads, rounds = 8, 50
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        start.wait()
        for i in range(rounds):
            store.write_later(LOG_ROW, ("2024-01-01T00:00:00+00:00", f"o_{t}", f"{t}.{i}", i))
            if i % 20 == 0:
                store.flush()  # flushes racing the background thread

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(timeout=60)
    store.close()
    got = _logged(store.path)
    assert sorted(got) == sorted(f"{t}.{i}" for t in range(threads) for i in range(rounds))


def test_a_queued_touch_reads_back_at_once_and_keeps_the_minute_rule(store: Store) -> None:
    subscribers.touch(store, "o_q", at=1000.0, later=True)
    assert seen(store, "o_q") == 1000.0  # this process's reads land the queue first
    subscribers.touch(store, "o_q", at=1030.0, later=True)  # within the minute: not queued
    subscribers.touch(store, "o_q", at=1061.0, later=True)
    store.close()  # lands the rest
    other = open_store(store.path)
    try:
        assert seen(other, "o_q") == 1061.0
    finally:
        other.close()


def test_a_queued_touch_merges_with_a_subscription_made_meanwhile(store: Store) -> None:
    subscribers.touch(store, "o_m", at=1000.0, later=True)
    with store.transaction():  # reads inside a transaction do not land the queue into it
        subscribers.subscribe(store, "o_m", ["党建"])
    subscribers.set_following(store, "o_m", False)
    store.flush()
    sub = subscribers.get(store, "o_m")
    assert sub is not None and sub.categories == ["党建"] and not sub.following
    assert sub.last_seen == 1000.0
