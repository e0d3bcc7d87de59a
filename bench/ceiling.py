"""Baseline A, the ceiling: the least an ASGI endpoint can do, on the same uvicorn as newsbot.

It reads the body (as any webhook must) and answers ``success``. Served by
``uvicorn bench.ceiling:app`` with the settings ``newsbot serve`` uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"7")]


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": b"success"})
