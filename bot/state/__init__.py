"""Shared state: what every worker process (and host) of one account must agree on.

The contract every backend keeps (one test suite, ``tests/test_state_contract.py``, runs it
against each of them). All rules hold across threads, processes and, for Redis, hosts. Keys,
values and answers are ``str``; times are seconds (floats allowed).

* **Message claims** (retry dedup). ``claim(key, lease)`` is atomic: of any number of
  concurrent callers exactly one gets ``OWNER``. It returns a :class:`Claim`: ``OWNER`` when
  the caller must handle the message (first arrival, the previous owner's lease ran out
  without an answer, or the stored answer expired), ``DONE`` with the stored answer, or
  ``PENDING`` while another caller holds an unexpired lease. ``finish(key, answer, ttl)``
  stores the answer for ``ttl`` seconds (also when the lease had run out: the last answer
  wins); ``answer(key)`` reads it (``None`` while pending, unknown or expired);
  ``wait(key, timeout)`` polls for it and returns ``None`` if it does not come in time.
* **Values with expiry**: ``get`` / ``set(key, value, ttl)`` / ``delete``. ``ttl=None`` keeps
  the value until deleted; ``set`` replaces the value and its expiry. An expired value reads as
  ``None``; deleting a missing key is not an error. ``set_if_absent`` is atomic: of concurrent
  callers exactly one stores its value and gets ``True``; an expired value counts as absent.
* **Bindings** (the webhook's nonce memory) share the values' keys: ``bind(key, value, ttl)``
  stores ``value`` when ``key`` holds no live value and returns the value that stands, the
  caller's own when it came first. It is atomic: of concurrent callers with different values
  exactly one gets its own back, and every caller gets that same one. ``bind_many`` binds
  several in order, in one transaction (SQLite) or one round trip (Redis), returning each
  one's standing value: the webhook's group of a loop turn.
* **Counters** share the values' keys: ``incr(key, ttl)`` adds one atomically and returns the
  new count; the first increment (of a missing or expired key) starts the ``ttl``, later ones
  keep it. ``get`` reads a counter as its decimal string. ``incr`` of a value that is not an
  integer raises ``ValueError``.
* **A message's writes**: ``add(key, n, ttl)`` adds ``n`` to a counter like ``n`` calls of
  ``incr`` without reading it back (a text value is left as it is). ``finish_with(key, answer,
  ttl, writes)`` applies a message's buffered ``writes`` (see :class:`MessageState`) and, unless
  ``answer`` is ``None``, stores the answer: in one transaction (SQLite) or one round trip
  (Redis), so the reply kept for retries and what the handler changed go in together.
* **Claim and answer at once**: ``settle(key, answer, ttl, writes)`` is ``claim`` and
  ``finish_with`` in one step, for a message handled before it was claimed: when the key is
  claimable (the rule of ``claim``) it stores ``answer`` and applies ``writes`` and returns
  ``OWNER``; otherwise it changes nothing and returns the claim that stands (``DONE`` with
  its answer, or ``PENDING``). ``settle_many`` settles several messages in order, as one
  transaction where the backend has them (SQLite): the webhook's group commit. It returns
  one entry per message: its claim, or the exception that message alone raised (writes the
  backend cannot store, say); one message's failure never costs the others their answers.
  Such a message changes nothing, but for at most a lease of ``SETTLE_LEASE`` seconds on
  backends that settle in two steps. Only :class:`StateUnavailable` is raised for all.
* **Locks** have their own names (a lock ``x`` and a value ``x`` are unrelated):
  ``acquire(name, owner, ttl)`` succeeds when the lock is free, expired, or already held by
  ``owner`` (which extends it to ``ttl`` from now); ``release(name, owner)`` only frees a lock
  ``owner`` holds and says whether it did (``False`` for another owner's lock or one that has
  expired). A lock whose holder died frees itself after ``ttl``.
* Claims, values and locks are three separate namespaces.
* **Failure**: a backend that cannot reach its server or write its file (down, locked, disk
  full, damaged) raises :class:`StateUnavailable` (quickly, within a couple of seconds), never a
  driver's own exception. The webhook then runs degraded (see ``docs/webhook.md``): readers
  are answered without dedup, admins' commands wait, a warning is logged once a minute.

Backends are picked by ``[state] backend``: ``sqlite`` (one WAL file shared by the processes of
one host) or ``redis`` (``[state] url``; shared by several hosts; keys under
``newsbot:<appid>:``).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Config


# One buffered write of a message: ("set", key, value, ttl), ("delete", key) or
# ("add", key, n, ttl).
Write = tuple[Any, ...]
# What ``settle`` takes: (key, answer, ttl, writes).
Settle = tuple[str, str, float, Sequence[Write]]
# The lease of a claim ``settle`` makes before it stores the answer (the two-step default):
# if the answer cannot be stored, retries wait this long before handling the message again.
SETTLE_LEASE = 5.0


class StateUnavailable(Exception):
    """The backend's server cannot be reached; the message says which and why."""


class ClaimStatus(Enum):
    OWNER = "owner"
    PENDING = "pending"
    DONE = "done"


@dataclass(frozen=True)
class Claim:
    status: ClaimStatus
    answer: str | None = None


class StateBackend(ABC):
    """Interface of a shared state backend; see the module docstring for the rules."""

    name: str = "abstract"

    @abstractmethod
    def claim(self, key: str, lease: float) -> Claim: ...

    @abstractmethod
    def finish(self, key: str, answer: str, ttl: float) -> None: ...

    @abstractmethod
    def answer(self, key: str) -> str | None: ...

    @abstractmethod
    def get(self, key: str) -> str | None: ...

    @abstractmethod
    def set(self, key: str, value: str, ttl: float | None = None) -> None: ...

    @abstractmethod
    def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def bind(self, key: str, value: str, ttl: float) -> str: ...

    def bind_many(self, items: Sequence[tuple[str, str, float]]) -> list[str]:
        """``bind`` for each of ``items`` (key, value, ttl) in order; the backends do them
        together."""
        return [self.bind(*item) for item in items]

    @abstractmethod
    def acquire(self, name: str, owner: str, ttl: float) -> bool: ...

    @abstractmethod
    def release(self, name: str, owner: str) -> bool: ...

    @abstractmethod
    def incr(self, key: str, ttl: float | None = None) -> int: ...

    def add(self, key: str, n: int = 1, ttl: float | None = None) -> None:
        """``n`` more on a counter, the value not read back. Backends do it in one step."""
        for _ in range(n):
            try:
                self.incr(key, ttl)
            except ValueError:
                return

    def finish_with(
        self, key: str, answer: str | None, ttl: float, writes: Sequence[Write]
    ) -> None:
        """Apply ``writes`` and store ``answer`` for ``key`` (unless ``None``). This default
        does it call by call; the backends do it at once."""
        for w in writes:
            if w[0] == "set":
                self.set(w[1], w[2], w[3])
            elif w[0] == "delete":
                self.delete(w[1])
            else:
                self.add(w[1], w[2], w[3])
        if answer is not None:
            self.finish(key, answer, ttl)

    def settle(self, key: str, answer: str, ttl: float, writes: Sequence[Write] = ()) -> Claim:
        """Claim ``key`` and, when it is ours, store ``answer`` with ``writes``. This default
        takes two steps (a claim with a short lease, then ``finish_with``)."""
        claim = self.claim(key, lease=SETTLE_LEASE)
        if claim.status is ClaimStatus.OWNER:
            self.finish_with(key, answer, ttl, writes)
        return claim

    def settle_many(self, items: Sequence[Settle]) -> list[Claim | Exception]:
        """``settle`` for each of ``items`` in order (the backends do them together): its
        claim, or the exception it raised (:class:`StateUnavailable` is raised for all)."""
        out: list[Claim | Exception] = []
        for item in items:
            try:
                out.append(self.settle(*item))
            except StateUnavailable:
                raise
            except Exception as e:  # noqa: BLE001 - this message's own failure, kept for it
                out.append(e)
        return out

    def close(self) -> None:  # noqa: B027 - optional: for backends without resources
        """Release connections."""

    def wait(self, key: str, timeout: float, interval: float = 0.02) -> str | None:
        """Block until ``key`` has an answer or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.answer(key)
            if got is not None or time.monotonic() >= deadline:
                return got
            time.sleep(interval)

    async def wait_async(self, key: str, timeout: float, interval: float = 0.02) -> str | None:
        """Like :meth:`wait`, without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.answer(key)
            if got is not None or time.monotonic() >= deadline:
                return got
            await asyncio.sleep(interval)


class MessageState:
    """The state as one message's handler sees it. ``set``, ``delete`` and ``add`` are kept
    and written with the message's answer (``commit``, which calls ``finish_with``): one write
    to the backend per message instead of one per change. The handler reads its own changes;
    everything else (claims, ``incr``, ``set_if_absent``, locks) goes to the backend at once.
    Nothing is written before ``commit`` (or ``take``, for ``settle``): the webhook settles a
    quick handler's message after it ran, and drops these changes when the message turns out
    to be claimed elsewhere."""

    def __init__(self, backend: StateBackend) -> None:
        self.backend = backend
        self.name = backend.name
        self._values: dict[str, tuple[str | None, float | None]] = {}
        self._counts: dict[str, tuple[int, float | None]] = {}

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.backend, attr)

    def get(self, key: str) -> str | None:
        if key in self._values:
            return self._values[key][0]
        value = self.backend.get(key)
        if key in self._counts:
            try:
                return str(int(value or 0) + self._counts[key][0])
            except ValueError:
                return value
        return value

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        if type(value) is not str:  # caught here, in the handler, not when its reply is kept
            raise TypeError(f"state values are str, not {type(value).__name__} ({key!r})")
        self._counts.pop(key, None)
        self._values[key] = (value, ttl)

    def delete(self, key: str) -> None:
        self._counts.pop(key, None)
        self._values[key] = (None, None)

    def add(self, key: str, n: int = 1, ttl: float | None = None) -> None:
        kept = self._values.get(key)
        if kept is not None:  # set or deleted in this message: counted on from the kept value
            value, kept_ttl = kept
            if value is None:  # deleted: a new counter, ``ttl`` from now
                self._values[key] = (str(n), ttl)
            else:
                try:
                    count = int(value)
                except ValueError:
                    return  # a text value is left as it is
                if str(count) == value:  # an integer as the backends write one
                    self._values[key] = (str(count + n), kept_ttl)
            return
        count, first_ttl = self._counts.get(key, (0, ttl))
        self._counts[key] = (count + n, first_ttl)

    def writes(self) -> list[Write]:
        out: list[Write] = [
            ("delete", k) if v is None else ("set", k, v, ttl)
            for k, (v, ttl) in self._values.items()
        ]
        out += [("add", k, n, ttl) for k, (n, ttl) in self._counts.items()]
        return out

    def take(self) -> list[Write]:
        """The kept changes, handed over (to ``settle``); none are kept after."""
        writes = self.writes()
        self._values.clear()
        self._counts.clear()
        return writes

    def commit(self, key: str | None, answer: str | None, ttl: float) -> None:
        """Write the kept changes, with ``answer`` for ``key`` unless it is ``None``."""
        writes = self.take()
        if writes or answer is not None:
            self.backend.finish_with(key or "", answer, ttl, writes)

    def flush(self) -> None:
        self.commit(None, None, 0)


def open_state(config: Config) -> StateBackend:
    """The backend named by ``[state] backend``."""
    backend = config.state["backend"]
    # the backends are imported here: each module imports this one for the interface
    if backend == "redis":
        from bot.state.redis import RedisState

        return RedisState(config.state["url"], prefix=f"newsbot:{config.wechat['appid']}:")
    from bot.state.sqlite import SQLiteState

    return SQLiteState(config.resolve(config.state["path"]))
