"""What the process's caches (search pages, compiled rules) check before they answer: the
store's generation counters (store.generations), read once per turn of the event loop.

The messages of one turn arrived together and are answered as of the same moment; a read costs
a read transaction and its file locks on SQLite and a round trip on PostgreSQL, more than the
rest of a cached answer, and every message of a turn would otherwise make it again for each
cache it looks at. In a worker thread (a search that runs the engine, an admin's command) the
counters are read at every look.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from store import generations
from store.generations import Generations


class Counters:
    """The generations as of this turn of the loop; one per process, shared by its caches."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._turn: tuple[Any, Generations] | None = None  # (store, what was read this turn)

    def current(self, store: Any) -> Generations:
        loop = self._loop
        if threading.get_ident() == self._loop_thread and loop is not None and loop.is_running():
            turn = self._turn
            if turn is not None and turn[0] is store:
                return turn[1]
        else:
            loop = asyncio._get_running_loop()
            if loop is None:  # a worker thread: read it every time
                return generations.read(store)
            self._loop, self._loop_thread = loop, threading.get_ident()
        value = generations.read(store)
        self._turn = (store, value)
        loop.call_soon(self._end_turn)
        return value

    def _end_turn(self) -> None:
        self._turn = None
