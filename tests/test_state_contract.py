"""The state backend contract (the docstring of ``bot.state``), run against every backend.

Each test gets a fresh backend: a new SQLite file, or its own Redis database. Expiry is shown by
waiting past a short ttl; nothing here asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.app import build_services
from bot.config import Config
from bot.state import Claim, ClaimStatus, MessageState, StateBackend, StateUnavailable
from bot.state.redis import RedisState
from bot.state.sqlite import SQLiteState
from handlers.help import HELP_TEXT
from tests.conftest import ROOT, Bot, free_port

BACKENDS = ("sqlite", "redis")
SHORT = 0.3  # a ttl short enough to wait out
PAST = 0.5  # sleeping this long outlives SHORT


@pytest.fixture(params=BACKENDS)
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(backend name, where its data lives) for this test."""
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "state.db")
    return "redis", request.getfixturevalue("redis_url")


def open_backend(spec: tuple[str, str]) -> StateBackend:
    kind, where = spec
    return SQLiteState(where) if kind == "sqlite" else RedisState(where, prefix="t:")


@pytest.fixture
def opener(spec: tuple[str, str]) -> Iterator[Callable[[], StateBackend]]:
    """Opens another handle on the same state, as another worker process would."""
    opened: list[StateBackend] = []

    def make() -> StateBackend:
        b = open_backend(spec)
        opened.append(b)
        return b

    yield make
    for b in opened:
        b.close()


@pytest.fixture
def state(opener: Callable[[], StateBackend]) -> StateBackend:
    return opener()


# -- message claims ---------------------------------------------------------------------------
def test_first_claim_owns_then_others_see_pending_then_done(
    state: StateBackend, opener: Callable[[], StateBackend]
) -> None:
    other = opener()
    assert state.claim("m1", lease=30).status is ClaimStatus.OWNER
    assert other.claim("m1", lease=30).status is ClaimStatus.PENDING
    assert other.answer("m1") is None
    state.finish("m1", "<xml>答复</xml>", ttl=60)
    got = other.claim("m1", lease=30)
    assert got.status is ClaimStatus.DONE
    assert got.answer == "<xml>答复</xml>"
    assert other.answer("m1") == "<xml>答复</xml>"


def test_unknown_message_has_no_answer(state: StateBackend) -> None:
    assert state.answer("never-seen") is None


def test_claims_of_different_messages_are_independent(state: StateBackend) -> None:
    assert state.claim("a", lease=30).status is ClaimStatus.OWNER
    assert state.claim("b", lease=30).status is ClaimStatus.OWNER


def test_lease_that_runs_out_without_answer_is_claimed_again(state: StateBackend) -> None:
    assert state.claim("m", lease=SHORT).status is ClaimStatus.OWNER
    time.sleep(PAST)
    assert state.claim("m", lease=30).status is ClaimStatus.OWNER
    assert state.claim("m", lease=30).status is ClaimStatus.PENDING


def test_answer_expires_after_its_ttl(state: StateBackend) -> None:
    state.claim("m", lease=30)
    state.finish("m", "reply", ttl=SHORT)
    assert state.claim("m", lease=30).status is ClaimStatus.DONE
    time.sleep(PAST)
    assert state.answer("m") is None
    assert state.claim("m", lease=30).status is ClaimStatus.OWNER


def test_finish_after_lease_ran_out_last_answer_wins(state: StateBackend) -> None:
    state.claim("m", lease=SHORT)
    time.sleep(PAST)
    state.claim("m", lease=30)  # a second owner
    state.finish("m", "second", ttl=60)
    state.finish("m", "first, late", ttl=60)
    assert state.claim("m", lease=30) == state.claim("m", lease=30)
    assert state.answer("m") == "first, late"


def test_empty_answer_is_still_an_answer(state: StateBackend) -> None:
    state.claim("m", lease=30)
    state.finish("m", "", ttl=60)
    got = state.claim("m", lease=30)
    assert got.status is ClaimStatus.DONE
    assert got.answer == ""


def test_wait_returns_the_answer_another_worker_stores(
    state: StateBackend, opener: Callable[[], StateBackend]
) -> None:
    other = opener()
    state.claim("m", lease=30)
    threading.Timer(0.2, other.finish, args=("m", "late answer", 60)).start()
    assert state.wait("m", timeout=10) == "late answer"


def test_wait_gives_up_with_none(state: StateBackend) -> None:
    state.claim("m", lease=30)
    assert state.wait("m", timeout=SHORT) is None


def test_wait_async_returns_the_answer(
    state: StateBackend, opener: Callable[[], StateBackend]
) -> None:
    other = opener()
    state.claim("m", lease=30)

    async def scenario() -> str | None:
        async def later() -> None:
            await asyncio.sleep(0.2)
            other.finish("m", "async answer", 60)

        task = asyncio.create_task(later())
        got = await state.wait_async("m", timeout=10)
        await task
        return got

    assert asyncio.run(scenario()) == "async answer"


# -- values ----------------------------------------------------------------------------------
def test_values_set_get_delete(state: StateBackend, opener: Callable[[], StateBackend]) -> None:
    other = opener()
    assert state.get("k") is None
    state.set("k", "第一页")
    assert other.get("k") == "第一页"
    state.set("k", "")
    assert other.get("k") == ""
    other.delete("k")
    assert state.get("k") is None
    state.delete("never-set")  # not an error


def test_value_expires_after_ttl(state: StateBackend) -> None:
    state.set("k", "v", ttl=SHORT)
    state.set("forever", "v")
    assert state.get("k") == "v"
    time.sleep(PAST)
    assert state.get("k") is None
    assert state.get("forever") == "v"


def test_set_replaces_value_and_expiry(state: StateBackend) -> None:
    state.set("k", "old", ttl=SHORT)
    state.set("k", "new")
    state.set("j", "old")
    state.set("j", "new", ttl=SHORT)
    time.sleep(PAST)
    assert state.get("k") == "new"
    assert state.get("j") is None


def test_set_if_absent(state: StateBackend) -> None:
    assert state.set_if_absent("k", "first") is True
    assert state.set_if_absent("k", "second") is False
    assert state.get("k") == "first"


def test_set_if_absent_treats_expired_as_absent(state: StateBackend) -> None:
    assert state.set_if_absent("k", "first", ttl=SHORT) is True
    time.sleep(PAST)
    assert state.set_if_absent("k", "second", ttl=60) is True
    assert state.get("k") == "second"


# -- bindings (the nonce memory) ---------------------------------------------------------------
def test_bind_keeps_the_first_value(state: StateBackend, opener: Callable[[], StateBackend]) -> None:
    assert state.bind("n1", "msg:a", ttl=60) == "msg:a"
    assert state.bind("n1", "msg:a", ttl=60) == "msg:a"  # the same again: still its own
    assert opener().bind("n1", "msg:b", ttl=60) == "msg:a"  # another: told whose it is
    assert state.get("n1") == "msg:a"
    assert state.bind("n2", "msg:b", ttl=60) == "msg:b"


def test_bind_many_binds_in_order(state: StateBackend) -> None:
    state.bind("n0", "msg:old", ttl=60)
    got = state.bind_many([("n1", "msg:a", 60), ("n0", "msg:b", 60), ("n1", "msg:c", 60)])
    assert got == ["msg:a", "msg:old", "msg:a"]
    assert state.bind_many([]) == []


def test_bind_forgets_after_its_ttl(state: StateBackend) -> None:
    assert state.bind("n", "msg:a", ttl=SHORT) == "msg:a"
    time.sleep(PAST)
    assert state.bind("n", "msg:b", ttl=60) == "msg:b"


def test_threads_racing_to_bind_agree_on_one(
    state: StateBackend, opener: Callable[[], StateBackend]
) -> None:
    handles = [opener() for _ in range(8)]
    got: list[str] = []
    start = threading.Barrier(len(handles))

    def race(i: int) -> None:
        start.wait()
        got.append(handles[i].bind("nonce", f"msg:{i}", ttl=60))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(handles))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1 and state.get("nonce") == got[0]


# -- counters --------------------------------------------------------------------------------
def test_incr_counts_and_reads_as_string(state: StateBackend) -> None:
    assert [state.incr("n") for _ in range(3)] == [1, 2, 3]
    assert state.get("n") == "3"
    state.set("m", "41")
    assert state.incr("m") == 42


def test_incr_ttl_starts_at_first_increment(state: StateBackend) -> None:
    assert state.incr("n", ttl=SHORT) == 1
    assert state.incr("n", ttl=60) == 2  # later ttls do not extend the window
    time.sleep(PAST)
    assert state.get("n") is None
    assert state.incr("n", ttl=60) == 1


def test_incr_keeps_a_value_without_expiry(state: StateBackend) -> None:
    state.incr("n")
    state.incr("n", ttl=SHORT)
    time.sleep(PAST)
    assert state.get("n") == "2"


def test_incr_of_text_raises_value_error(state: StateBackend) -> None:
    state.set("k", "not a number")
    with pytest.raises(ValueError):
        state.incr("k")


def test_add_counts_by_n_with_incr_ttl_rules(state: StateBackend) -> None:
    state.add("n", 3, ttl=SHORT)
    state.add("n", 2, ttl=60)  # the window started with the first add
    assert state.get("n") == "5"
    assert state.incr("n") == 6
    time.sleep(PAST)
    assert state.get("n") is None
    state.add("n", 4)
    assert state.get("n") == "4"


def test_add_leaves_a_text_value_alone(state: StateBackend) -> None:
    state.set("k", "not a number")
    state.add("k", 2)
    assert state.get("k") == "not a number"


# -- a message's writes ----------------------------------------------------------------------
def test_finish_with_stores_answer_and_writes_together(
    state: StateBackend, opener: Callable[[], StateBackend]
) -> None:
    state.set("old", "x")
    state.set("n", "10")
    assert state.claim("m1", lease=60).status is ClaimStatus.OWNER
    state.finish_with(
        "m1",
        "<xml>reply</xml>",
        60,
        [
            ("set", "list", "[1, 2]", 60),
            ("delete", "old"),
            ("add", "n", 2, None),
            ("add", "fresh", 1, SHORT),
        ],
    )
    other = opener()  # another worker sees all of it
    assert other.claim("m1", lease=60) == Claim(ClaimStatus.DONE, "<xml>reply</xml>")
    assert other.get("list") == "[1, 2]"
    assert other.get("old") is None
    assert other.get("n") == "12"
    assert other.get("fresh") == "1"
    time.sleep(PAST)
    assert other.get("fresh") is None  # the add's ttl holds in the batch too
    assert other.get("list") == "[1, 2]"


def test_finish_with_no_answer_only_writes(state: StateBackend) -> None:
    assert state.claim("m1", lease=60).status is ClaimStatus.OWNER
    state.finish_with("m1", None, 60, [("set", "k", "v", None)])
    assert state.get("k") == "v"
    assert state.answer("m1") is None
    assert state.claim("m1", lease=60).status is ClaimStatus.PENDING  # still the owner's lease


def test_finish_with_a_text_counter_keeps_the_other_writes(state: StateBackend) -> None:
    state.set("k", "text")
    state.finish_with("m1", "ok", 60, [("add", "k", 1, None), ("set", "j", "v", None)])
    assert state.get("k") == "text"
    assert state.get("j") == "v"
    assert state.answer("m1") == "ok"


# -- settling a message handled before it was claimed ----------------------------------------
def test_settle_claims_and_stores_at_once(
    state: StateBackend, opener: Callable[[], StateBackend]
) -> None:
    state.set("n", "1")
    got = state.settle("m1", "<xml>a</xml>", 60, [("set", "list", "[3]", 60), ("add", "n", 2, None)])
    assert got.status is ClaimStatus.OWNER
    other = opener()
    assert other.claim("m1", lease=60) == Claim(ClaimStatus.DONE, "<xml>a</xml>")
    assert other.get("list") == "[3]"
    assert other.get("n") == "3"


def test_settle_of_an_answered_message_changes_nothing(state: StateBackend) -> None:
    assert state.settle("m1", "first", 60, [("set", "k", "1", None)]).status is ClaimStatus.OWNER
    again = state.settle("m1", "second", 60, [("set", "k", "2", None), ("add", "c", 1, None)])
    assert again == Claim(ClaimStatus.DONE, "first")
    assert state.answer("m1") == "first"
    assert state.get("k") == "1"
    assert state.get("c") is None


def test_settle_while_another_holds_the_claim(state: StateBackend) -> None:
    assert state.claim("m1", lease=60).status is ClaimStatus.OWNER
    got = state.settle("m1", "mine", 60, [("set", "k", "v", None)])
    assert got.status is ClaimStatus.PENDING
    assert state.answer("m1") is None and state.get("k") is None
    state.finish("m1", "theirs", 60)
    assert state.answer("m1") == "theirs"


def test_settle_after_a_lease_ran_out_unanswered(state: StateBackend) -> None:
    assert state.claim("m1", lease=SHORT).status is ClaimStatus.OWNER
    time.sleep(PAST)
    assert state.settle("m1", "late but ours", 60).status is ClaimStatus.OWNER
    assert state.answer("m1") == "late but ours"


def test_settle_many_in_order(state: StateBackend) -> None:
    state.set("gone", "x")
    got = state.settle_many(
        [
            ("a", "A", 60, [("add", "n", 1, None), ("delete", "gone")]),
            ("b", "B", 60, [("set", "n", "10", None), ("add", "n", 1, None)]),
            ("a", "A again", 60, [("add", "n", 100, None)]),  # the same message twice
        ]
    )
    assert [c.status for c in got] == [ClaimStatus.OWNER, ClaimStatus.OWNER, ClaimStatus.DONE]
    assert got[2].answer == "A"
    assert (state.answer("a"), state.answer("b")) == ("A", "B")
    assert state.get("n") == "11"  # set after the first add, the third message's add dropped
    assert state.get("gone") is None


def test_settle_many_fails_only_the_message_whose_writes_cannot_be_stored(
    state: StateBackend,
) -> None:
    unstorable = "\ud800"  # a lone surrogate: a str no backend can encode
    got = state.settle_many(
        [
            ("a", "A", 60, [("add", "n", 1, None), ("set", "ka", "1", None)]),
            ("bad", "B", 60, [("add", "n", 5, None), ("set", "kb", unstorable, None)]),
            ("c", "C", 60, [("add", "n", 1, None), ("set", "kc", "1", None)]),
        ]
    )
    assert [type(c) for c in got] == [Claim, UnicodeEncodeError, Claim]
    assert got[0].status is got[2].status is ClaimStatus.OWNER
    assert (state.answer("a"), state.answer("c")) == ("A", "C")
    assert (state.get("ka"), state.get("kc"), state.get("n")) == ("1", "1", "2")
    assert state.get("kb") is None and state.answer("bad") is None  # none of its writes
    # and its message can be handled again, at once or after the settle's short lease
    assert state.claim("bad", lease=1).status in (ClaimStatus.OWNER, ClaimStatus.PENDING)


def test_message_state_refuses_a_value_that_is_not_text(state: StateBackend) -> None:
    ms = MessageState(state)
    with pytest.raises(TypeError, match="str, not dict"):
        ms.set("k", {"a": 1})  # type: ignore[arg-type]
    assert ms.take() == []


def test_message_state_reads_its_own_writes_and_commits_once(
    state: StateBackend, opener: Callable[[], StateBackend]
) -> None:
    state.set("a", "1")
    state.set("b", "kept")
    state.set("c", "5")
    msg = MessageState(state)
    msg.set("a", "2", 60)
    msg.delete("b")
    msg.add("c", 2)
    msg.add("d", 1, 60)
    assert (msg.get("a"), msg.get("b"), msg.get("c"), msg.get("d")) == ("2", None, "7", "1")
    other = opener()
    assert (other.get("a"), other.get("b"), other.get("c")) == ("1", "kept", "5")  # not yet
    assert msg.set_if_absent("e", "now") is True  # not buffered: straight to the backend
    assert other.get("e") == "now"
    msg.commit("m9", "answer", 60)
    assert (other.get("a"), other.get("b"), other.get("c"), other.get("d")) == ("2", None, "7", "1")
    assert other.answer("m9") == "answer"
    msg.commit("m9", None, 60)  # nothing left to write: the stored answer stays
    assert other.answer("m9") == "answer"
    assert msg.writes() == []


def test_message_state_counts_on_from_a_value_it_set_without_writing_early(
    state: StateBackend, opener: Callable[[], StateBackend]
) -> None:
    state.set("n", "1")
    state.set("gone", "3")
    state.set("note", "text")
    msg = MessageState(state)
    msg.set("n", "10", 60)
    msg.add("n", 2)
    msg.delete("gone")
    msg.add("gone", 4, 60)
    msg.set("note", "still text")
    msg.add("note", 1)
    assert (msg.get("n"), msg.get("gone"), msg.get("note")) == ("12", "4", "still text")
    other = opener()  # nothing reached the backend before the commit
    assert (other.get("n"), other.get("gone"), other.get("note")) == ("1", "3", "text")
    msg.commit("m1", "answer", 60)
    assert (other.get("n"), other.get("gone"), other.get("note")) == ("12", "4", "still text")
    assert other.incr("n") == 13  # still a counter


# -- locks -----------------------------------------------------------------------------------
def test_lock_has_one_holder(state: StateBackend, opener: Callable[[], StateBackend]) -> None:
    other = opener()
    assert state.acquire("digest", "worker-a", ttl=30) is True
    assert other.acquire("digest", "worker-b", ttl=30) is False
    assert state.acquire("digest", "worker-a", ttl=30) is True  # the holder renews


def test_only_the_holder_releases(state: StateBackend, opener: Callable[[], StateBackend]) -> None:
    other = opener()
    state.acquire("digest", "worker-a", ttl=30)
    assert other.release("digest", "worker-b") is False
    assert other.acquire("digest", "worker-b", ttl=30) is False
    assert state.release("digest", "worker-a") is True
    assert state.release("digest", "worker-a") is False
    assert other.acquire("digest", "worker-b", ttl=30) is True


def test_lock_of_a_dead_holder_frees_itself(
    state: StateBackend, opener: Callable[[], StateBackend]
) -> None:
    other = opener()
    state.acquire("digest", "dead", ttl=SHORT)
    time.sleep(PAST)
    assert other.acquire("digest", "alive", ttl=30) is True
    assert state.release("digest", "dead") is False  # too late: it is not held any more
    assert other.acquire("digest", "dead", ttl=30) is False


def test_renewal_extends_the_lock(state: StateBackend) -> None:
    state.acquire("digest", "a", ttl=SHORT)
    state.acquire("digest", "a", ttl=60)
    time.sleep(PAST)
    assert state.acquire("digest", "b", ttl=30) is False


def test_release_of_an_expired_lock_says_false(state: StateBackend) -> None:
    state.acquire("digest", "a", ttl=SHORT)
    time.sleep(PAST)
    assert state.release("digest", "a") is False


def test_claims_values_and_locks_are_separate_namespaces(state: StateBackend) -> None:
    state.set("x", "value")
    assert state.claim("x", lease=30).status is ClaimStatus.OWNER
    assert state.acquire("x", "me", ttl=30) is True
    state.finish("x", "answer", ttl=60)
    assert state.get("x") == "value"
    state.delete("x")
    assert state.answer("x") == "answer"
    assert state.acquire("x", "you", ttl=30) is False


# -- atomicity: threads and processes --------------------------------------------------------
def test_threads_racing_for_one_claim_give_exactly_one_owner(
    state: StateBackend, opener: Callable[[], StateBackend]
) -> None:
    handles = [state, opener(), opener()]
    n = 24
    start = threading.Barrier(n)
    results: list[str] = []
    lock = threading.Lock()

    def race(i: int) -> None:
        b = handles[i % len(handles)]
        start.wait()
        got = [
            b.claim("hot", lease=30).status.value,
            "set" if b.set_if_absent("once", str(i)) else "-",
            "lock" if b.acquire("leader", f"w{i}", ttl=30) else "-",
        ]
        for _ in range(10):
            b.incr("hits")
        with lock:
            results.extend(got)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("owner") == 1
    assert results.count("pending") == n - 1
    assert results.count("set") == 1
    assert results.count("lock") == 1
    assert state.get("hits") == str(n * 10)


# Run in a separate interpreter: open the backend, wait for the go file, race, print results.
_RACER = """
import json, os, sys, time
sys.path.insert(0, {root!r})
if {kind!r} == "sqlite":
    from bot.state.sqlite import SQLiteState
    b = SQLiteState({where!r})
else:
    from bot.state.redis import RedisState
    b = RedisState({where!r}, prefix="t:")
b.get("warm-up")
print("ready", flush=True)
while not os.path.exists({go!r}):
    time.sleep(0.001)
me = str(os.getpid())
out = {{
    "pid": me,
    "claim": b.claim("hot", lease=30).status.value,
    "settle": b.settle("warm", me, 60, [("set", "by", me, None)]).status.value,
    "set": b.set_if_absent("once", me),
    "lock": b.acquire("leader", me, ttl=30),
    "counts": [b.incr("hits") for _ in range(20)],
}}
print(json.dumps(out), flush=True)
"""


def test_processes_racing_give_exactly_one_winner(
    spec: tuple[str, str], state: StateBackend, tmp_path: Path
) -> None:
    kind, where = spec
    go = tmp_path / "go"
    code = _RACER.format(root=str(ROOT), kind=kind, where=where, go=str(go))
    n = 6
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        go.touch()
        outs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0] * n
    assert sorted(o["claim"] for o in outs) == ["owner"] + ["pending"] * (n - 1)
    settled = [o["pid"] for o in outs if o["settle"] == "owner"]
    assert len(settled) == 1 and state.answer("warm") == settled[0]
    assert state.get("by") == settled[0]  # only the owner's writes went in
    set_winners = [o["pid"] for o in outs if o["set"]]
    assert len(set_winners) == 1
    assert state.get("once") == set_winners[0]
    holders = [o["pid"] for o in outs if o["lock"]]
    assert len(holders) == 1
    losers = [o["pid"] for o in outs if not o["lock"]]
    assert not any(state.release("leader", pid) for pid in losers)
    assert state.release("leader", holders[0]) is True
    counts = sorted(c for o in outs for c in o["counts"])
    assert counts == list(range(1, n * 20 + 1))  # every increment seen exactly once


# -- Redis unreachable -----------------------------------------------------------------------
@pytest.fixture
def dead_redis() -> Iterator[RedisState]:
    b = RedisState(f"redis://127.0.0.1:{free_port()}/0", cooldown=0.2)
    yield b
    b.close()


def test_unreachable_redis_raises_state_unavailable(dead_redis: RedisState) -> None:
    calls: list[Callable[[], object]] = [
        lambda: dead_redis.claim("m", lease=5),
        lambda: dead_redis.finish("m", "a", ttl=5),
        lambda: dead_redis.answer("m"),
        lambda: dead_redis.get("k"),
        lambda: dead_redis.set("k", "v"),
        lambda: dead_redis.set_if_absent("k", "v"),
        lambda: dead_redis.delete("k"),
        lambda: dead_redis.incr("k"),
        lambda: dead_redis.acquire("l", "me", ttl=5),
        lambda: dead_redis.release("l", "me"),
    ]
    for call in calls:
        with pytest.raises(StateUnavailable, match="unreachable"):
            call()
        time.sleep(0.25)  # past the cooldown: each call really tries the server


def test_unavailable_message_hides_the_password() -> None:
    b = RedisState(f"redis://:s3cret@127.0.0.1:{free_port()}/0")
    with pytest.raises(StateUnavailable) as err:
        b.get("k")
    assert "s3cret" not in str(err.value)
    assert "127.0.0.1" in str(err.value)


def test_bad_redis_url_is_a_clear_error() -> None:
    with pytest.raises(StateUnavailable, match="url"):
        RedisState("http://not-redis/0")


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    probe = RedisState(f"redis://127.0.0.1:{port}/0", cooldown=0)
    deadline = time.monotonic() + 10
    while True:
        try:
            probe.get("probe")
            break
        except StateUnavailable:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    probe.close()
    return proc


def test_redis_backend_recovers_after_an_outage(redis_server: str) -> None:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (CI must run the Redis backend tests)")
        pytest.skip("needs the redis-server binary to stop and restart a server")
    port = free_port()
    proc = _start_redis(port)
    b = RedisState(f"redis://127.0.0.1:{port}/0", cooldown=0.2)
    try:
        b.set("k", "v")
        proc.terminate()
        proc.wait(timeout=10)
        with pytest.raises(StateUnavailable):
            b.get("k")
        with pytest.raises(StateUnavailable, match="recently failed"):
            b.get("k")  # within the cooldown: fails at once, without a connection attempt
        proc = _start_redis(port)
        time.sleep(0.3)
        assert b.get("k") is None  # a fresh server (no persistence), reachable again
        b.set("k", "back")
        assert b.get("k") == "back"
    finally:
        b.close()
        proc.terminate()
        proc.wait(timeout=10)


# -- the webhook with its state backend down -------------------------------------------------
def test_webhook_answers_without_dedup_while_redis_is_down(
    config: Config,
    make_bot: Callable[..., Bot],
    dead_redis: RedisState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = make_bot(build_services(config, state=dead_redis))
    with caplog.at_level(logging.WARNING, logger="newsbot.app"):
        first = bot.send("帮助", msgid="777")
        again = bot.send("帮助", msgid="777")
    assert first.status == again.status == 200
    assert first.text == again.text == HELP_TEXT
    assert "without dedup" in caplog.text


def test_sqlite_sweeps_expired_rows_a_batch_at_a_time(tmp_path: Path) -> None:
    from bot.state import sqlite as backend

    state = SQLiteState(tmp_path / "swept.db")
    try:
        for i in range(backend._PURGE_BATCH + 200):  # more than one sweep's worth
            state.finish_with(f"old{i}", "a", SHORT, [("set", f"v{i}", "x", SHORT)])
        time.sleep(PAST)
        state.set("kept", "y")  # no expiry: never swept
        db = state._db

        def rows() -> tuple[int, int]:
            claims = db.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
            return claims, db.execute("SELECT COUNT(*) FROM kv").fetchone()[0]

        def sweep() -> None:  # writes enough for one sweep
            for i in range(backend._PURGE_EVERY):
                state.set("n", str(i))

        before = rows()
        sweep()
        after_one = rows()
        assert after_one[0] == before[0] - backend._PURGE_BATCH  # one batch of the expired
        # values: a batch looked at per sweep, in rowid order from where the last one stopped
        assert before[1] - backend._PURGE_BATCH <= after_one[1] < before[1]
        sweep()
        assert rows()[0] == 0  # the rest of the claims
        sweep()  # by now every value has been looked at once
        assert rows() == (0, 2)  # "kept" and "n" stay
        assert state.get("kept") == "y"
    finally:
        state.close()


def test_settle_many_sums_a_counter_in_the_order_of_the_writes(state: StateBackend) -> None:
    state.set("text", "not a number")
    day = [("add", "day", 1, 60)]
    got = state.settle_many(
        [
            ("m1", "1", 60, [*day, ("add", "text", 1, None)]),
            ("m2", "2", 60, [*day, ("set", "day", "10", 60)]),
            ("m3", "3", 60, [*day, ("add", "day", 2, 60)]),
            ("m4", "4", 60, [*day, ("delete", "gone"), ("set", "after", "ok", None)]),
        ]
    )
    assert all(c.status is ClaimStatus.OWNER for c in got)
    assert state.get("day") == "14"  # 1, then set to 10, then 1 + 2 + 1
    assert state.get("text") == "not a number" and state.get("after") == "ok"
    assert [state.answer(k) for k in ("m1", "m2", "m3", "m4")] == ["1", "2", "3", "4"]


def test_sqlite_settle_many_reports_a_broken_file_as_unavailable(tmp_path: Path) -> None:
    import sqlite3

    state = SQLiteState(tmp_path / "state.db")
    try:
        with sqlite3.connect(state.path) as other:  # the file damaged from outside
            other.execute("DROP TABLE claims")
        with pytest.raises(StateUnavailable, match="no such table"):
            state.settle_many([("a", "A", 60, []), ("b", "B", 60, [])])
        with pytest.raises(StateUnavailable, match="no such table"):  # any transaction
            state.finish_with("c", "C", 60, [("set", "k", "v", None)])
        assert state.acquire("digest", "me", 30) is True  # and the file still works after
    finally:
        state.close()


def test_sqlite_full_file_is_unavailable_for_every_call(tmp_path: Path) -> None:
    """A file that cannot grow (SQLite's page limit: the "disk is full" error itself) makes
    every call raise StateUnavailable, never SQLite's own error."""
    state = SQLiteState(tmp_path / "state.db")
    try:
        db = state._db
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
        calls = [
            lambda i: state.claim(f"c{i}", lease=30),
            lambda i: state.set(f"v{i}", "x" * 500, ttl=60),
            lambda i: state.bind(f"n{i}", "x" * 500, ttl=60),
            lambda i: state.incr(f"i{i}"),
            lambda i: state.finish_with(f"f{i}", "y" * 500, 60, [("set", f"w{i}", "z" * 500, 60)]),
            lambda i: state.settle_many([(f"s{i}", "y" * 500, 60, [])]),
        ]
        for call in calls:
            with pytest.raises(StateUnavailable, match="full"):
                for i in range(5000):
                    call(i)
    finally:
        state.close()


def test_sqlite_state_file_of_an_earlier_release_loses_its_value_expiry_index(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL)")
        old.execute("CREATE INDEX kv_expiry ON kv (expires_at)")
        old.execute("INSERT INTO kv VALUES ('kept', 'y', NULL)")
    state = SQLiteState(path)
    try:
        names = {r[0] for r in state._db.execute("SELECT name FROM sqlite_master")}
        assert "kv_expiry" not in names and "claims_expiry" in names
        assert state.get("kept") == "y"
    finally:
        state.close()
