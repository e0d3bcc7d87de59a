"""What the process's caches (search pages, compiled rules) check before they answer: the
store's generation counters (store.generations), read once per turn of the event loop.

The messages of one turn arrived together and are answered as of the same moment; a read costs
a read transaction and its file locks on SQLite and a round trip on PostgreSQL, more than the
rest of a cached answer, and every message of a turn would otherwise make it again for each
cache it looks at. A store that cannot be reached is remembered for the turn too: the read
waited for a connection up to ``[store] connect_timeout`` on the loop, and the turn's other
messages hear "try again later" at once instead of each waiting as long. In a worker thread (a
search that runs the engine, an admin's command) the counters are read at every look.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from store import generations
from store.db import StoreUnavailable
from store.generations import Generations


class Counters:
    """The generations as of this turn of the loop; one per process, shared by its caches."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        # (store, what was read this turn: the counters, or the store's being out of reach)
        self._turn: tuple[Any, Generations | StoreUnavailable] | None = None

    def current(self, store: Any) -> Generations:
        loop = self._loop
        if threading.get_ident() == self._loop_thread and loop is not None and loop.is_running():
            turn = self._turn
            if turn is not None and turn[0] is store:
                if isinstance(turn[1], StoreUnavailable):
                    raise StoreUnavailable(*turn[1].args)
                return turn[1]
        else:
            loop = asyncio._get_running_loop()
            if loop is None:  # a worker thread: read it every time
                return generations.read(store)
            self._loop, self._loop_thread = loop, threading.get_ident()
        try:
            value: Generations | StoreUnavailable = generations.read(store)
        except StoreUnavailable as e:
            value = e
        self._turn = (store, value)
        loop.call_soon(self._end_turn)
        if isinstance(value, StoreUnavailable):
            raise value
        return value

    def _end_turn(self) -> None:
        self._turn = None
