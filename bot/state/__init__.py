"""Shared state: what every worker process (and host) of one account must agree on.

The contract every backend keeps (one test suite, ``tests/test_state_contract.py``, runs it
against each of them):

* **Message claims** (retry dedup). ``claim(key, lease)`` is atomic across processes and returns
  a :class:`Claim`: ``OWNER`` when the caller must handle the message (first arrival, or the
  previous owner's lease ran out without an answer), ``DONE`` with the stored answer, or
  ``PENDING`` while another worker holds an unexpired lease. ``finish(key, answer, ttl)`` stores
  the answer for ``ttl`` seconds; ``answer(key)`` reads it (``None`` while pending or unknown);
  ``wait(key, timeout)`` polls for it.
* **Values with expiry**: ``get`` / ``set(key, value, ttl)`` / ``delete``. ``ttl=None`` keeps the
  value until deleted. An expired value reads as ``None``. ``set_if_absent`` is atomic.
* **Locks**: ``acquire(name, owner, ttl)`` succeeds when the lock is free, expired, or already
  held by ``owner`` (which extends it); ``release(name, owner)`` only frees a lock ``owner``
  holds and says whether it did. A lock whose holder died frees itself after ``ttl``.
* **Counters**: ``incr(key, ttl)`` adds one atomically and returns the new count; the first
  increment starts the ``ttl``.

Values are ``str``. Backends are picked by ``[state] backend`` (``sqlite`` or ``redis``).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Config


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
    def acquire(self, name: str, owner: str, ttl: float) -> bool: ...

    @abstractmethod
    def release(self, name: str, owner: str) -> bool: ...

    @abstractmethod
    def incr(self, key: str, ttl: float | None = None) -> int: ...

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
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


def open_state(config: Config) -> StateBackend:
    """The backend named by ``[state] backend``."""
    backend = config.state["backend"]
    if backend == "redis":
        from bot.state.redis import RedisState

        return RedisState(config.state["url"])
    from bot.state.sqlite import SQLiteState

    return SQLiteState(config.resolve(config.state["path"]))
