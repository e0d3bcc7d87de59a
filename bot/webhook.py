"""``/wechat``, the callback: one :class:`Webhook` per process.

Per POST: cap the body, open the envelope, claim the message's dedup key, run the handler
within the reply budget (on the event loop when it is quick, else in a worker thread), render
and seal the reply, remember it for WeChat's retries. A handler that outlives the budget is
answered ``success`` and its reply is handed to ``late_reply`` (the customer-service API)
when it is ready.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl

from bot import logs
from bot.envelope import Envelope, EnvelopeError
from bot.gate import Gate
from bot.replies import normalise, to_xml
from bot.router import Found
from bot.state import Claim, ClaimStatus, MessageState, Settle, StateBackend, StateUnavailable
from handlers.base import FALLBACK_TEXT, Context, Message, News, Text

if TYPE_CHECKING:  # bot.app imports this module to build its app
    from bot.app import Services

log = logging.getLogger("newsbot.access")
errlog = logging.getLogger("newsbot.app")

# Handler threads per worker process. Subscribers' messages take one lane, one at a time:
# their handlers (search, lists, help, subscriptions) are short and CPU-bound, and a lone
# thread does not trade the GIL with sibling threads on every SQLite row it reads (see
# docs/performance.md). Admins' commands and the article pages have threads of their own:
# they may wait on the network or a long import, and must neither hold up subscribers nor
# wait behind them.
SUBSCRIBER_THREADS = 1
ADMIN_THREADS = 4
QUICK_WARN = 0.05  # seconds a quick handler may hold the event loop before it is logged
LATE_THREADS = 2  # finishing messages that outlived the reply budget (network calls)
RECENT_KEYS = 10_000  # messages settled here, remembered for their retries (about 2 MB)

Headers = tuple[tuple[bytes, bytes], ...]
LateReply = Callable[[Message, "Text | News"], None]  # sends a reply by the API


class Handled(NamedTuple):
    """What a handler's run came to: the reply's XML (or ``success``), the handler's name,
    the outcome for the log line, and the reply value (``None``: no passive reply)."""

    xml: str
    handler: str
    outcome: str
    value: Text | News | None


class Done(NamedTuple):
    """A message's claim and, when this process ran its handler, what that came to."""

    claim: Claim
    handled: Handled | None


class Answer(NamedTuple):
    """An HTTP answer of the webhook."""

    status: int
    body: bytes
    headers: Headers


_TEXT = b"text/plain; charset=utf-8"
_HEADERS_TEXT: Headers = ((b"content-type", _TEXT),)
_HEADERS_XML: Headers = ((b"content-type", b"application/xml"),)
_HEADERS_405: Headers = ((b"content-type", _TEXT), (b"allow", b"GET, HEAD, POST"))
_SUCCESS = Answer(200, b"success", _HEADERS_TEXT)
_GONE: Any = object()  # the client went away mid-body
_JSON = json.JSONEncoder(ensure_ascii=False).encode


class Webhook:
    """The callback as a bare ASGI endpoint (it is the hot path: no routing, no middleware,
    no request objects). Holds the message threads and the group commit."""

    def __init__(self, services: Services) -> None:
        config = services.config
        self.services = services
        self.envelope = Envelope(
            config.wechat["token"],
            config.wechat["appid"],
            config.wechat["encoding_aes_key"],
            config.server["replay_window"],
            config.wechat_mode,
        )
        self.cap: int = config.server["max_body"]
        self.budget: float = config.server["reply_budget"]
        self.dedup_ttl: float = config.state["dedup_ttl"]
        self.lane = ThreadPoolExecutor(SUBSCRIBER_THREADS, thread_name_prefix="handler")
        self.pool = ThreadPoolExecutor(ADMIN_THREADS, thread_name_prefix="admin")
        self.late_pool = ThreadPoolExecutor(LATE_THREADS, thread_name_prefix="late")
        self.group = SettleGroup(services.state)
        # the nonce memory, admins' commands, and how the state backend fares (bot.gate)
        self.gate = Gate(services.state, config.server["replay_window"], config.state["dedup_ttl"],
                         self.envelope.mode)
        self.health = self.gate.health
        self.recent: OrderedDict[str, None] = OrderedDict()  # keys settled here, newest last

    def close(self) -> None:
        """Let every message under way finish."""
        self.lane.shutdown(wait=True)
        self.pool.shutdown(wait=True)
        self.late_pool.shutdown(wait=True)

    # -- HTTP ------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Never a 500 or a traceback out: an unexpected failure is logged and answered
        ``success`` (no passive reply), so WeChat shows the user no error."""
        method = scope.get("method", "")
        try:
            answer = await self.respond(method, scope, receive)
        except Exception:  # noqa: BLE001 - the last line of defence
            errlog.exception("unexpected failure on %s", scope.get("path"))
            answer = _SUCCESS
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [*answer.headers, (b"content-length", str(len(answer.body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else answer.body})

    async def respond(self, method: str, scope: dict[str, Any], receive: Any) -> Answer:
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        if method in ("GET", "HEAD"):
            try:
                return Answer(200, self.envelope.verify_url(query).encode(), _HEADERS_TEXT)
            except EnvelopeError as e:
                return Answer(e.status, e.reason.encode(), _HEADERS_TEXT)
        if method != "POST":
            return Answer(405, b"Method Not Allowed", _HEADERS_405)
        body = await read_body(scope, receive, self.cap)
        if body is None:
            return Answer(413, b"request body too large", _HEADERS_TEXT)
        if body is _GONE:
            return Answer(400, b"client went away", _HEADERS_TEXT)
        return await self.on_message(query, body)

    async def on_message(self, query: dict[str, str], body: bytes) -> Answer:
        """One message: opened, routed once (the route picks the thread and the handler),
        run, and answered with its reply, a kept answer (a retry) or ``success``."""
        started = time.perf_counter()
        try:
            opened = self.envelope.open(query, body)
            admission = await self.gate.admit(opened, query)
        except EnvelopeError as e:
            errlog.info("refused %s: %s", e.status, e.reason)
            return Answer(e.status, e.reason.encode(), _HEADERS_TEXT)
        msg, encrypted = opened
        nonce = query.get("nonce", "")
        key = msg.dedup_key
        admin = self.services.shared.is_admin(msg.source)
        ctx = self.context(msg, admin and admission.commands)
        router = self.services.router
        found = router.find(msg, ctx)
        if admin and not admission.commands:
            found = self.gate.hold_commands(msg, ctx, found, router, admission.held)
        if not ctx.is_admin and router.is_quick(msg, ctx, found):
            done = await self.run_quick(key, msg, ctx, found, started)
        else:
            done = await self.run_within_budget(key, msg, ctx, found)
        if done is None:
            log_line(msg, "-", "over-budget", started)
            return _SUCCESS
        if done.claim.status is ClaimStatus.DONE:
            log_line(msg, "-", "retry", started)
            xml = done.claim.answer or "success"
        elif done.claim.status is ClaimStatus.PENDING:
            xml = await self.wait_answer(key) or "success"
            log_line(msg, "-", "retry-wait", started)
        else:
            assert done.handled is not None  # the owner of a claim ran the handler
            handler, outcome = done.handled.handler, done.handled.outcome
            log_line(msg, handler, outcome, started)
            xml = done.handled.xml
        return _answer(self.envelope.seal(xml, encrypted, nonce))

    # -- one message's handler -----------------------------------------------------------------
    def context(self, msg: Message, admin: bool) -> Context:
        services = self.services
        return Context(
            user=msg.source,
            is_admin=admin,
            config=services.config,
            state=MessageState(services.state),
            store=services.store,
            api=services.api,
            shared=services.shared,
            deferred=[],
        )

    def run_handler(self, msg: Message, ctx: Context, found: Found | None) -> Handled:
        reply, name, outcome = self.services.router.dispatch(msg, ctx, found)
        try:
            value = normalise(reply, msg)
        except TypeError:
            errlog.exception("handler %s returned a bad value user=%s", name, msg.source)
            value, outcome = normalise(FALLBACK_TEXT, msg), "error"
        return Handled(to_xml(value, msg), name, outcome, value)

    def unkept(self, msg: Message, name: str) -> Handled:
        """The result of a message whose reply and changes could not be stored (a handler's
        writes the backend refused): the user hears to try again, not a reply whose changes
        are missing."""
        errlog.exception("reply of %s not kept, its changes were refused user=%s", name, msg.source)
        value = normalise(FALLBACK_TEXT, msg)
        return Handled(to_xml(value, msg), name, "error", value)

    # -- the state: claims and kept answers ----------------------------------------------------
    # The state backend down (Redis unreachable, its file full) must not fail the webhook: the
    # message is handled without dedup (a retry may then run the handler again), and the
    # degraded mode's warning is logged once a minute (bot.gate.Health).
    def claim_key(self, key: str) -> Claim:
        try:
            return self.services.state.claim(key, lease=self.budget + 5)
        except StateUnavailable as e:
            self.health.failed(f"claim of {key}", e)
            return Claim(ClaimStatus.OWNER)

    def remember(self, key: str, answer: str | None, state: MessageState | None = None) -> None:
        """Keep the answer for WeChat's retries, with the handler's state changes if any."""
        try:
            if state is not None:
                state.commit(key, answer, self.dedup_ttl)
            elif answer is not None:
                self.services.state.finish(key, answer, self.dedup_ttl)
        except StateUnavailable as e:
            self.health.failed(f"keeping the reply to {key}", e)

    def peek(self, key: str) -> str | None:
        """The kept answer of a message this process settled (a retry): read from the state
        only then, so a new message costs no read (a retry that reaches another worker runs
        its handler there, and ``settle`` answers it with the kept answer all the same)."""
        if key not in self.recent:
            return None
        try:
            return self.services.state.answer(key)
        except StateUnavailable:
            return None  # settle says it again, once

    async def settle(self, key: str, answer: str, writes: list[Any]) -> Claim:
        try:
            return await self.group.settle(key, answer, self.dedup_ttl, writes)
        except StateUnavailable as e:
            self.health.failed(f"settling {key}", e)
            return Claim(ClaimStatus.OWNER)

    async def wait_answer(self, key: str) -> str | None:
        try:
            return await self.services.state.wait_async(key, self.budget)
        except StateUnavailable as e:
            self.health.failed(f"waiting for the reply to {key}", e)
            return None

    # -- in a thread ---------------------------------------------------------------------------
    # The dedup claim, the handler and storing its reply go together. The handler's state
    # changes are written with its reply: two writes per message (claim, answer) whatever the
    # handler changed. ``late`` is set when the reply budget ran out first: finish_late then
    # stores what WeChat was told ("success"), after this returns, so it is the answer that
    # stays.
    def claim_and_run(
        self, key: str, msg: Message, ctx: Context, found: Found | None,
        late: threading.Event | None = None,
    ) -> Done:
        claim = self.claim_key(key)
        if claim.status is not ClaimStatus.OWNER:
            return Done(claim, None)
        handled = self.run_handler(msg, ctx, found)
        try:
            kept = None if late is not None and late.is_set() else handled.xml
            self.remember(key, kept, ctx.state)
        except Exception:  # noqa: BLE001 - this message's writes alone; logged by unkept
            return Done(claim, self.unkept(msg, handled.handler))
        ctx.run_deferred()
        return Done(claim, handled)

    async def run_within_budget(
        self, key: str, msg: Message, ctx: Context, found: Found | None
    ) -> Done | None:
        """``claim_and_run`` in the message's threads; ``None`` when the budget ran out first
        (the thread then finishes the message late by itself). One future and one timer per
        message: the loop does no more than hand the work over and take the answer back."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        call = _Call()

        def work() -> None:
            try:
                done: Done | BaseException = self.claim_and_run(key, msg, ctx, found, call.late)
            except BaseException as e:  # noqa: BLE001 - handed to whoever waits
                done = e
            if call.settle():
                loop.call_soon_threadsafe(_resolve, waiter, done)
            else:
                self.late_pool.submit(self.finish_late, key, msg, done)

        def over_budget() -> None:
            if call.expire():
                _resolve(waiter, None)

        (self.pool if ctx.is_admin else self.lane).submit(work)
        timer = loop.call_later(self.budget, over_budget)
        try:
            done = await waiter
        finally:
            timer.cancel()
        if isinstance(done, BaseException):
            raise done
        return done

    def finish_late(self, key: str, msg: Message, done: Done | BaseException,
                    kept: bool = False) -> None:
        """A handler that outlived the budget: WeChat was told ``success``; keep that for its
        retries (unless ``kept`` already) and send the reply through the customer-service
        API. Runs in a thread."""
        if isinstance(done, BaseException):
            errlog.error("late handler failed user=%s", msg.source, exc_info=done)
            return
        handled = done.handled
        if handled is None:  # a retry whose claim was slow: nothing of ours to finish
            return
        if not kept:
            self.remember(key, "success")
        outcome = handled.outcome
        late_reply = self.services.late_reply
        if handled.value is not None and late_reply is not None:
            try:
                late_reply(msg, handled.value)
                outcome = "late-sent"
            except Exception:  # noqa: BLE001
                errlog.exception("late reply failed user=%s", msg.source)
                outcome = "late-failed"
        elif handled.value is not None:
            outcome = "late-dropped"
        log_line(msg, handled.handler, outcome, None)

    # -- on the event loop -----------------------------------------------------------------------
    async def run_quick(
        self, key: str, msg: Message, ctx: Context, found: Found | None, started: float
    ) -> Done | None:
        """A quick handler (handlers.base.Quick) runs here, on the event loop: handing it to a
        thread and back would cost more than the work. It is claimed after it ran: a look at
        the kept answers first (a retry is answered from them), then the handler, then its
        reply and state changes are settled with the other messages of this turn of the loop
        in one transaction (``settle``; a message claimed meanwhile elsewhere keeps that
        claim, and this handler's reply and changes are dropped). ``None`` when the reply
        came later than the budget (it is then sent by the customer-service API)."""
        kept = self.peek(key)
        if kept is not None:
            return Done(Claim(ClaimStatus.DONE, kept), None)
        handled = self.run_handler(msg, ctx, found)
        held = time.perf_counter() - started
        if held > QUICK_WARN:
            errlog.warning(
                "quick handler %s held the event loop %.0f ms user=%s: every connection"
                " of this worker waited (is it really quick?)",
                handled.handler, held * 1000, msg.source,
            )
        late = held > self.budget  # ready, but later than promised: WeChat is told ``success``
        try:
            claim = await self.settle(key, "success" if late else handled.xml, ctx.state.take())
        except Exception:  # noqa: BLE001 - this message's writes alone; logged by unkept
            return Done(Claim(ClaimStatus.OWNER), self.unkept(msg, handled.handler))
        if claim.status is not ClaimStatus.OWNER:
            return Done(claim, None)  # a retry claimed elsewhere: its side effects are dropped
        ctx.run_deferred()
        self.recent[key] = None
        if len(self.recent) > RECENT_KEYS:
            self.recent.popitem(last=False)
        if late:
            self.late_pool.submit(self.finish_late, key, msg, Done(claim, handled), True)
            return None
        return Done(claim, handled)


class _Call:
    """Who finishes a message: the loop (answer in time) or its thread (over budget)."""

    __slots__ = ("_lock", "_settled", "late")

    def __init__(self) -> None:
        self.late = threading.Event()
        self._lock = threading.Lock()
        self._settled = False

    def settle(self) -> bool:
        """The thread is done: True when the answer still goes to the waiting request."""
        with self._lock:
            if self.late.is_set():
                return False
            self._settled = True
            return True

    def expire(self) -> bool:
        """The budget ran out: True when the thread had not answered yet (it is late now)."""
        with self._lock:
            if self._settled:
                return False
            self.late.set()
            return True


class SettleGroup:
    """Group commit for the messages answered on the event loop: each one's ``settle`` waits
    for one call of the backend's ``settle_many`` made once the loop has run every message
    that was ready with it (SQLite: one transaction, one commit, for all of them). The reply
    still goes out only after its answer is stored."""

    def __init__(self, backend: StateBackend) -> None:
        self.backend = backend
        self._items: list[Settle] = []
        self._waiters: list[asyncio.Future[Any]] = []
        # the loop of the group being gathered: asking asyncio for it costs a system call
        # (getpid) on this Python, so only the first message of a group asks
        self._loop: asyncio.AbstractEventLoop | None = None

    async def settle(self, key: str, answer: str, ttl: float, writes: list[Any]) -> Claim:
        loop = self._loop
        if loop is None or loop.is_closed():  # (closed: a group left behind by an old loop)
            self._items, self._waiters = [], []
            loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._run)
        waiter: asyncio.Future[Any] = loop.create_future()
        self._items.append((key, answer, ttl, writes))
        self._waiters.append(waiter)
        got = await waiter  # the claim, or the exception settling this message raised
        if isinstance(got, BaseException):
            raise got
        return got

    def _run(self) -> None:
        items, waiters = self._items, self._waiters
        self._items, self._waiters, self._loop = [], [], None
        try:
            claims: list[Any] = self.backend.settle_many(items)
        except Exception as e:  # noqa: BLE001 - StateUnavailable: each waiter hears it
            claims = [e] * len(waiters)
        if len(claims) != len(waiters):  # a backend that broke the contract: nobody hangs
            claims = [RuntimeError(
                f"{type(self.backend).__name__}.settle_many gave {len(claims)} claims"
                f" for {len(waiters)} messages"
            )] * len(waiters)
        for waiter, claim in zip(waiters, claims):
            _resolve(waiter, claim)


def _resolve(waiter: asyncio.Future[Any], value: Any) -> None:
    if not waiter.done():  # a request cancelled meanwhile leaves nobody to tell
        waiter.set_result(value)


def _answer(body: str) -> Answer:
    if body == "success":
        return _SUCCESS
    return Answer(200, body.encode("utf-8"), _HEADERS_XML)


async def read_body(scope: dict[str, Any], receive: Any, cap: int) -> Any:
    """The request body; ``None`` when it is larger than ``cap`` bytes, ``_GONE`` when the
    client went away before sending all of it."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > cap:
                return None
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _GONE
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def log_line(msg: Message, handler: str, outcome: str, started: float | None) -> None:
    """The access log's line of one message, a JSON object."""
    if not log.isEnabledFor(logging.INFO):
        return
    ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    kind = f"event:{msg.event}" if msg.event else msg.type
    line = _JSON({"user": msg.source, "type": kind, "msgid": msg.id or None,
                  "handler": handler, "outcome": outcome, "ms": ms})
    logs.info(log, line)

