"""What the webhook decides about an opened message before a handler sees it: whether its
signature is its own (the nonce memory), whether an admin's command may run from it, and how
the state backend is faring (the degraded mode).

**Nonce memory.** A callback URL's ``timestamp`` and ``nonce``, and so the signatures made
over them, belong to the first message they came with, remembered in the state backend (so
every worker and host shares it) for as long as the timestamp stays inside the replay window. The same message again (the same
dedup key: MsgId and sender, or sender and time for events) is WeChat retrying and gets its kept
reply; another message under them is refused 403. Without it a plain signature, which covers
no body, would sign any body for the whole window. The messages that arrive in one turn of the
event loop are bound together (``bind_many``: one SQLite transaction, one Redis round trip), as
their replies are settled together (``bot.app.SettleGroup``).

**Degraded mode.** When the state backend fails (Redis down, its file locked, full, damaged),
readers are still answered, without retry dedup. Admins' commands are refused politely: without
the nonce memory a replayed command cannot be told from a new one. A warning is logged once a
minute while it lasts (not once per message), and ``/healthz`` says ``degraded`` with status 200:
a load balancer must not drop every host when the one Redis they share is down.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, NamedTuple

from bot.envelope import EnvelopeError, Opened
from bot.router import Found, Router
from bot.state import StateBackend, StateUnavailable
from handlers.base import Context, Message

log = logging.getLogger("newsbot.app")

WARN_EVERY = 60.0  # seconds between the degraded mode's warnings

HELD_UNSIGNED = ("管理命令未执行：这条消息没有加密，无法确认来自微信。"
                 "请在公众号后台使用安全模式或兼容模式后再发。")
HELD_DEGRADED = "管理命令暂时无法执行（系统状态存储不可用），请稍后再试。查询等功能不受影响。"


class Health:
    """How the state backend is faring, as the webhook saw it last."""

    def __init__(self, every: float = WARN_EVERY) -> None:
        self.every = every
        self.failing_since: float | None = None
        self._warned = float("-inf")
        self._lock = threading.Lock()

    @property
    def degraded(self) -> bool:
        return self.failing_since is not None

    def failed(self, doing: str, e: Exception) -> None:
        """A call to the backend failed: degraded from now; warned at most once a minute."""
        now = time.monotonic()
        with self._lock:
            if self.failing_since is None:
                self.failing_since = now
            if now - self._warned < self.every:
                return
            self._warned = now
        log.warning("state backend unavailable (%s): answering readers without dedup,"
                    " holding admins' commands: %s", doing, e)

    def ok(self) -> None:
        """A write to the backend went through."""
        if self.failing_since is None:
            return
        with self._lock:
            since, self.failing_since = self.failing_since, None
            self._warned = float("-inf")
        if since is not None:
            log.warning("state backend is back after %.0f s", time.monotonic() - since)


class Admission(NamedTuple):
    """What an opened message may do: ``commands`` is whether an admin's command may run."""

    commands: bool
    held: str = ""  # why not, for the admin


class Gate:
    """Admits opened messages for one account (see the module docstring)."""

    def __init__(self, state: StateBackend, replay_window: int, dedup_ttl: int,
                 mode: str) -> None:
        self.state = state
        self.replay_window = replay_window
        self.dedup_ttl = dedup_ttl
        self.mode = mode
        self.health = Health()
        self._group = _BindGroup(state)

    async def admit(
        self, opened: Opened, query: dict[str, str], now: float | None = None
    ) -> Admission:
        """Bind the request's signature to its message; :class:`EnvelopeError` (403) when it
        belongs to another one."""
        msg = opened.message
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        # both signatures WeChat sends (the plain one and msg_signature) are made over this
        # timestamp and nonce: binding these binds both, so a logged encrypted request cannot
        # lend its plain signature to a plain body either
        key = f"nonce:{timestamp}:{nonce}"
        try:
            owner = await self._group.bind(key, msg.dedup_key, self._memory(timestamp, now))
        except StateUnavailable as e:
            self.health.failed("nonce memory", e)
            return Admission(False, HELD_DEGRADED)
        self.health.ok()
        if owner != msg.dedup_key:
            raise EnvelopeError(403, "signature already used by another message")
        if self.mode == "compat" and not opened.encrypted:
            return Admission(False, HELD_UNSIGNED)
        return Admission(True)

    def _memory(self, timestamp: str, now: float | None) -> float:
        """Seconds to remember a signature: while its timestamp stays acceptable (the window
        runs both ways), or the dedup ttl when the window is off."""
        if not self.replay_window:
            return float(self.dedup_ttl)
        now = time.time() if now is None else now
        try:
            return max(1.0, int(timestamp) + self.replay_window - now + 1)
        except ValueError:
            return float(self.replay_window)

    def hold_commands(
        self, msg: Message, ctx: Context, found: Found | None, router: Router, why: str
    ) -> Found | None:
        """The route an admin's message takes when commands may not run: the polite refusal
        when an admin's route would have taken it, else the route a reader's message takes."""
        ctx.is_admin = True
        as_admin = router.find(msg, ctx)
        ctx.is_admin = False
        ctx.match = None
        reader = router.find(msg, ctx)
        if as_admin is not None and (reader is None or as_admin.name != reader.name):
            return Found(lambda m, c: why, "held", True)
        return reader if reader is not None else found

    def probe(self) -> bool:
        """One write to the backend (``/healthz``): whether it went through."""
        try:
            self.state.set("healthz", str(int(time.time())), ttl=60)
        except StateUnavailable as e:
            self.health.failed("health check", e)
            return False
        self.health.ok()
        return True


class _BindGroup:
    """The binds of one turn of the event loop, made in one call of ``bind_many``."""

    def __init__(self, backend: StateBackend) -> None:
        self.backend = backend
        self._items: list[tuple[str, str, float]] = []
        self._waiters: list[asyncio.Future[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def bind(self, key: str, value: str, ttl: float) -> str:
        loop = self._loop
        if loop is None or loop.is_closed():
            self._items, self._waiters = [], []
            loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._run)
        waiter: asyncio.Future[Any] = loop.create_future()
        self._items.append((key, value, ttl))
        self._waiters.append(waiter)
        got = await waiter
        if isinstance(got, BaseException):
            raise got
        return str(got)

    def _run(self) -> None:
        items, waiters = self._items, self._waiters
        self._items, self._waiters, self._loop = [], [], None
        try:
            owners: list[Any] = self.backend.bind_many(items)
        except Exception as e:  # noqa: BLE001 - StateUnavailable (or worse): each hears it
            owners = [e] * len(waiters)
        if len(owners) != len(waiters):
            owners = [RuntimeError("bind_many gave a wrong number of values")] * len(waiters)
        for waiter, owner in zip(waiters, owners):
            if not waiter.done():
                waiter.set_result(owner)
