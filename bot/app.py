"""The ASGI application: ``/wechat`` (the callback), ``/articles/{id}``, ``/healthz``.

Per POST: cap the body, open the envelope, claim the message's dedup key, run the handler in
a worker thread within the reply budget, render and seal the reply, remember it for WeChat's
retries. A handler that outlives the budget is answered ``success`` and its reply is handed to
``late_reply`` (the customer-service API) when it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot import logs
from bot.config import Config, load_config
from bot.envelope import Envelope, EnvelopeError
from bot.replies import normalise, to_xml
from bot.router import FALLBACK_TEXT, Found, Router
from bot.state import (
    Claim,
    ClaimStatus,
    MessageState,
    Settle,
    StateBackend,
    StateUnavailable,
    open_state,
)
from handlers.base import Context, Message, Reply
from handlers.pages import render_article_page

log = logging.getLogger("newsbot.access")
errlog = logging.getLogger("newsbot.app")

LateReply = Callable[[Message, Reply], None]

# Handler threads per worker process. Subscribers' messages take one lane, one at a time:
# their handlers (search, lists, help, subscriptions) are short and CPU-bound, and a lone
# thread does not trade the GIL with sibling threads on every SQLite row it reads (bench/:
# 8 threads cost ~1.5x the CPU per message of 1, 32 threads ~2x). Admins' commands and the
# article pages have threads of their own: they may wait on the network or a long import,
# and must neither hold up subscribers nor wait behind them.
SUBSCRIBER_THREADS = 1
ADMIN_THREADS = 4
QUICK_WARN = 0.05  # seconds a quick handler may hold the event loop before it is logged
LATE_THREADS = 2  # finishing messages that outlived the reply budget (network calls)
GC_YOUNG = 10_000  # allocations between the collector's young passes (Python's default 700)
RECENT_KEYS = 10_000  # messages settled here, remembered for their retries (about 2 MB)


@dataclass
class Services:
    """Everything a running bot holds: built once per process."""

    config: Config
    state: StateBackend
    store: Any
    router: Router
    api: Any = None
    late_reply: LateReply | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        if hasattr(self.api, "close"):
            self.api.close()
        self.state.close()
        if self.store is not None:
            self.store.close()


def build_services(config: Config, **overrides: Any) -> Services:
    """Open the store and state named by ``config`` and compile the handlers' routes."""
    from handlers import build_router, setup_services
    from store.db import open_configured

    state = overrides.pop("state", None) or open_state(config)
    store = overrides.pop("store", None) or open_configured(config)
    router = overrides.pop("router", None) or build_router()
    services = Services(config=config, state=state, store=store, router=router, **overrides)
    from bot.wxapi import WeChatAPI, late_reply_sender

    if services.api is None:
        services.api = WeChatAPI(config, state)
    if services.late_reply is None:
        services.late_reply = late_reply_sender(services.api)
    setup_services(services)
    return services


def create_app(services: Services) -> NewsbotApp:
    config = services.config
    envelope = Envelope(
        config.wechat["token"],
        config.wechat["appid"],
        config.wechat["encoding_aes_key"],
        config.server["replay_window"],
    )
    cap = config.server["max_body"]
    budget = config.server["reply_budget"]
    dedup_ttl = config.state["dedup_ttl"]
    lane = ThreadPoolExecutor(max_workers=SUBSCRIBER_THREADS, thread_name_prefix="handler")
    pool = ThreadPoolExecutor(max_workers=ADMIN_THREADS, thread_name_prefix="admin")
    late_pool = ThreadPoolExecutor(max_workers=LATE_THREADS, thread_name_prefix="late")
    group = SettleGroup(services.state)

    # The admin directory (handlers.admin) knows the config's admins and the store's; without
    # it (a router of one's own) the config's are the admins.
    is_admin: Callable[[str], bool] = services.extra.get("is_admin") or (
        config.admin_openids().__contains__
    )

    def context(msg: Message, admin: bool) -> Context:
        return Context(
            user=msg.source,
            is_admin=admin,
            config=config,
            state=MessageState(services.state),
            store=services.store,
            api=services.api,
            services=services.extra,
            deferred=[],
        )

    def run_handler(msg: Message, ctx: Context, found: Found | None) -> tuple[str, str, str, Any]:
        reply, name, outcome = services.router.dispatch(msg, ctx, found)
        try:
            value = normalise(reply, msg)
        except TypeError:
            errlog.exception("handler %s returned a bad value user=%s", name, msg.source)
            value, outcome = normalise("抱歉，系统开小差了，请稍后再试。", msg), "error"
        return to_xml(value, msg), name, outcome, value

    def unkept(msg: Message, name: str) -> tuple[str, str, str, Any]:
        """The result of a message whose reply and changes could not be stored (a handler's
        writes the backend refused): the user hears to try again, not a reply whose changes
        are missing."""
        errlog.exception("reply of %s not kept, its changes were refused user=%s", name, msg.source)
        value = normalise(FALLBACK_TEXT, msg)
        return to_xml(value, msg), name, "error", value

    # The state backend down (Redis unreachable) must not fail the webhook: the message is
    # handled without dedup (a retry may then run the handler again) and a warning is logged.
    def claim_key(key: str) -> Claim:
        try:
            return services.state.claim(key, lease=budget + 5)
        except StateUnavailable as e:
            errlog.warning("state backend down, handling %s without dedup: %s", key, e)
            return Claim(ClaimStatus.OWNER)

    def remember(key: str, answer: str | None, state: MessageState | None = None) -> None:
        """Keep the answer for WeChat's retries, with the handler's state changes if any."""
        try:
            if state is not None:
                state.commit(key, answer, dedup_ttl)
            elif answer is not None:
                services.state.finish(key, answer, dedup_ttl)
        except StateUnavailable as e:
            errlog.warning("state backend down, reply to %s not kept for retries: %s", key, e)

    recent: OrderedDict[str, None] = OrderedDict()  # keys this process settled, newest last

    def peek(key: str) -> str | None:
        """The kept answer of a message this process settled (a retry): read from the state
        only then, so a new message costs no read (a retry that reaches another worker runs
        its handler there, and ``settle`` answers it with the kept answer all the same)."""
        if key not in recent:
            return None
        try:
            return services.state.answer(key)
        except StateUnavailable:
            return None  # settle says it again, once

    async def settle(key: str, answer: str, writes: list[Any]) -> Claim:
        try:
            return await group.settle(key, answer, dedup_ttl, writes)
        except StateUnavailable as e:
            errlog.warning("state backend down, handled %s without dedup: %s", key, e)
            return Claim(ClaimStatus.OWNER)

    async def wait_answer(key: str) -> str | None:
        try:
            return await services.state.wait_async(key, budget)
        except StateUnavailable as e:
            errlog.warning("state backend down while waiting for %s: %s", key, e)
            return None

    # The dedup claim, the handler and storing its reply go together, on the event loop for a
    # quick handler (handlers.base.Quick), else in a worker thread. The handler's state
    # changes are written with its reply: two writes per message (claim, answer) whatever
    # the handler changed. ``late`` is set when the reply budget ran out first: finish_late
    # then stores what WeChat was told ("success"), after this returns, so it is the answer
    # that stays.
    def claim_and_run(
        key: str, msg: Message, ctx: Context, found: Found | None,
        late: threading.Event | None = None,
    ) -> tuple[Claim, Any]:
        claim = claim_key(key)
        if claim.status is not ClaimStatus.OWNER:
            return claim, None
        result = run_handler(msg, ctx, found)
        try:
            remember(key, None if late is not None and late.is_set() else result[0], ctx.state)
        except Exception:  # noqa: BLE001 - this message's writes alone; logged by unkept
            return claim, unkept(msg, result[1])
        ctx.run_deferred()
        return claim, result

    def finish_late(
        key: str, msg: Message, done: tuple[Claim, Any] | BaseException, kept: bool = False
    ) -> None:
        """A handler that outlived the budget: WeChat was told ``success``; keep that for its
        retries (unless ``kept`` already) and send the reply through the customer-service
        API. Runs in a thread."""
        if isinstance(done, BaseException):
            errlog.error("late handler failed user=%s", msg.source, exc_info=done)
            return
        _, result = done
        if result is None:  # a retry whose claim was slow: nothing of ours to finish
            return
        _, name, outcome, value = result
        if not kept:
            remember(key, "success")
        if value is not None and services.late_reply is not None:
            try:
                services.late_reply(msg, value)
                outcome = "late-sent"
            except Exception:  # noqa: BLE001
                errlog.exception("late reply failed user=%s", msg.source)
                outcome = "late-failed"
        else:
            outcome = "late-dropped" if value is not None else outcome
        _log_line(msg, name, outcome, None)

    async def run_quick(
        key: str, msg: Message, ctx: Context, found: Found | None, started: float
    ) -> tuple[Claim, Any] | None:
        """A quick handler (handlers.base.Quick) runs here, on the event loop: handing it to a
        thread and back would cost more than the work. It is claimed after it ran: a look at
        the kept answers first (a retry is answered from them), then the handler, then its
        reply and state changes are settled with the other messages of this turn of the loop
        in one transaction (``settle``; a message claimed meanwhile elsewhere keeps that
        claim, and this handler's reply and changes are dropped). ``None`` when the reply
        came later than the budget (it is then sent by the customer-service API)."""
        kept = peek(key)
        if kept is not None:
            return Claim(ClaimStatus.DONE, kept), None
        result = run_handler(msg, ctx, found)
        held = time.perf_counter() - started
        if held > QUICK_WARN:
            errlog.warning(
                "quick handler %s held the event loop %.0f ms user=%s: every connection"
                " of this worker waited (is it really quick?)",
                result[1], held * 1000, msg.source,
            )
        late = held > budget  # ready, but later than promised: WeChat is told ``success``
        try:
            claim = await settle(key, "success" if late else result[0], ctx.state.take())
        except Exception:  # noqa: BLE001 - this message's writes alone; logged by unkept
            return Claim(ClaimStatus.OWNER), unkept(msg, result[1])
        if claim.status is not ClaimStatus.OWNER:
            return claim, None  # a retry claimed elsewhere: its side effects are dropped
        ctx.run_deferred()
        recent[key] = None
        if len(recent) > RECENT_KEYS:
            recent.popitem(last=False)
        if late:
            late_pool.submit(finish_late, key, msg, (claim, result), True)
            return None
        return claim, result

    async def run_within_budget(
        key: str, msg: Message, ctx: Context, found: Found | None
    ) -> tuple[Claim, Any] | None:
        """``claim_and_run`` in the message's threads; ``None`` when the budget ran out first
        (the thread then finishes the message late by itself). One future and one timer per
        message: the loop does no more than hand the work over and take the answer back."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        call = _Call()

        def work() -> None:
            try:
                done: Any = claim_and_run(key, msg, ctx, found, call.late)
            except BaseException as e:  # noqa: BLE001 - handed to whoever waits
                done = e
            if call.settle():
                loop.call_soon_threadsafe(_resolve, waiter, done)
            else:
                late_pool.submit(finish_late, key, msg, done)

        def over_budget() -> None:
            if call.expire():
                _resolve(waiter, None)

        (pool if ctx.is_admin else lane).submit(work)
        timer = loop.call_later(budget, over_budget)
        try:
            done = await waiter
        finally:
            timer.cancel()
        if isinstance(done, BaseException):
            raise done
        return done

    async def on_message(query: dict[str, str], body: bytes) -> tuple[int, bytes, bytes]:
        started = time.perf_counter()
        try:
            msg, encrypted = envelope.open(query, body)
        except EnvelopeError as e:
            errlog.info("refused %s: %s", e.status, e.reason)
            return e.status, e.reason.encode(), _TEXT
        nonce = query.get("nonce", "")
        key = msg.dedup_key
        ctx = context(msg, is_admin(msg.source))
        found = services.router.find(msg, ctx)  # once: it picks the thread and the handler
        if not ctx.is_admin and services.router.is_quick(msg, ctx, found):
            done = await run_quick(key, msg, ctx, found, started)
        else:
            done = await run_within_budget(key, msg, ctx, found)
        if done is None:
            _log_line(msg, "-", "over-budget", started)
            return _SUCCESS
        claim, result = done
        if claim.status is ClaimStatus.DONE:
            _log_line(msg, "-", "retry", started)
            return _answer(envelope.seal(claim.answer or "success", encrypted, nonce))
        if claim.status is ClaimStatus.PENDING:
            answer = await wait_answer(key)
            _log_line(msg, "-", "retry-wait", started)
            return _answer(envelope.seal(answer or "success", encrypted, nonce))
        xml, name, outcome, _ = result
        _log_line(msg, name, outcome, started)
        return _answer(envelope.seal(xml, encrypted, nonce))

    async def webhook(scope: dict[str, Any], receive: Any, send: Any) -> None:
        """``/wechat`` as a bare ASGI endpoint (it is the hot path: no routing, no middleware,
        no request objects). Never a 500 or a traceback out: an unexpected failure is logged
        and answered ``success`` (no passive reply), so WeChat shows the user no error."""
        headers = _HEADERS_TEXT
        method = scope.get("method", "")
        try:
            query = _parse_query(scope["query_string"])
            if method in ("GET", "HEAD"):
                try:
                    status, out = 200, envelope.verify_url(query).encode()
                except EnvelopeError as e:
                    status, out = e.status, e.reason.encode()
            elif method == "POST":
                body = await _read_asgi_body(scope, receive, cap)
                if body is None:
                    status, out = 413, b"request body too large"
                elif body is _GONE:
                    status, out = 400, b"client went away"
                else:
                    status, out, ctype = await on_message(query, body)
                    if ctype is not _TEXT:
                        headers = _HEADERS_XML
            else:
                status, out, headers = 405, b"Method Not Allowed", _HEADERS_405
        except Exception:  # noqa: BLE001 - the last line of defence
            errlog.exception("unexpected failure on %s", scope.get("path"))
            status, out, headers = 200, b"success", _HEADERS_TEXT
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(out)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else out})

    async def healthz(request: Request) -> Response:
        # the store's answer comes from a worker thread: a server that hangs never holds the loop
        engine = getattr(services.store, "engine", "sqlite")
        up = await asyncio.get_running_loop().run_in_executor(pool, services.store.available)
        body = {"status": "ok" if up else "unavailable", "state": services.state.name,
                "store": engine if up else f"{engine} unavailable"}
        return JSONResponse(body, status_code=200 if up else 503)

    async def article_page(request: Request) -> Response:
        raw = request.path_params["article_id"]
        status, html = await asyncio.get_running_loop().run_in_executor(
            pool, render_article_page, services.store, raw, config
        )
        return HTMLResponse(html, status_code=status)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for start in services.extra.get("on_start", ()):
            start(services)
        # What the process loaded to start (modules, config, routes) lives as long as it does:
        # out of the collector's full scans, which otherwise stall the loop for ~15 ms.
        gc.collect()
        gc.freeze()
        # A message allocates a few hundred short-lived objects (nearly none in cycles): a
        # young-generation pass every 10,000 allocations instead of every 700 (bench/: ~3 %)
        gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])
        try:
            yield
        finally:
            for stop in services.extra.get("on_stop", ()):
                stop(services)
            lane.shutdown(wait=True)
            pool.shutdown(wait=True)
            late_pool.shutdown(wait=True)
            services.close()
            # a worker of ``serve --workers`` ends without running exit hooks: its last lines
            # (the scheduler letting go of its lock) go out here
            logs.flush()

    pages = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/articles/{article_id}", article_page, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    pages.state.services = services
    return NewsbotApp(webhook, pages)


class NewsbotApp:
    """The ASGI application: ``/wechat`` goes straight to the webhook; everything else
    (the article pages, ``/healthz``, the lifespan) to a Starlette app."""

    def __init__(self, webhook: Callable[..., Any], pages: Starlette, path: str = "/wechat"):
        self.webhook = webhook
        self.pages = pages
        self.path = path
        self.state = pages.state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            await self.webhook(scope, receive, send)
        else:
            await self.pages(scope, receive, send)


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


_TEXT = b"text/plain; charset=utf-8"
_XML = b"application/xml"
_HEADERS_TEXT = ((b"content-type", _TEXT),)
_HEADERS_XML = ((b"content-type", _XML),)
_HEADERS_405 = ((b"content-type", _TEXT), (b"allow", b"GET, HEAD, POST"))
_SUCCESS = (200, b"success", _TEXT)
_GONE: Any = object()  # the client went away mid-body


def _parse_query(raw: bytes) -> dict[str, str]:
    """The query string's parameters (the last of a repeated name wins). WeChat's carry no
    escapes (digits, hex, ``aes``); those that do go through ``parse_qsl``."""
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    out: dict[str, str] = {}
    for part in text.split("&"):
        if part:
            name, _, value = part.partition("=")
            out[name] = value
    return out


def _answer(body: str) -> tuple[int, bytes, bytes]:
    if body == "success":
        return _SUCCESS
    return 200, body.encode("utf-8"), _XML


async def _read_asgi_body(scope: dict[str, Any], receive: Any, cap: int) -> Any:
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


_JSON = json.JSONEncoder(ensure_ascii=False).encode
_PLAIN = re.compile(r"[\w:.\-]*", re.ASCII)  # needs no escaping in a JSON string


def _log_line(msg: Message, handler: str, outcome: str, started: float | None) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    kind = msg.event and f"event:{msg.event}" or msg.type
    msgid = msg.id or None
    if _PLAIN.fullmatch(f"{msg.source}{kind}{msg.id}{handler}{outcome}") is not None:
        # what the encoder below writes, without it (a line per message)
        line = (
            f'{{"user": "{msg.source}", "type": "{kind}", "msgid": '
            f'{"null" if msgid is None else f"{chr(34)}{msgid}{chr(34)}"}, "handler": "{handler}",'
            f' "outcome": "{outcome}", "ms": {"null" if ms is None else repr(ms)}}}'
        )
    else:
        line = _JSON({"user": msg.source, "type": kind, "msgid": msgid, "handler": handler,
                      "outcome": outcome, "ms": ms})
    logs.info(log, line)


def app_from_env() -> NewsbotApp:
    """Factory for ``uvicorn --factory`` (used by ``newsbot serve --workers N``)."""
    config = load_config(os.environ.get("NEWSBOT_CONFIG") or None)
    if not logging.getLogger().handlers:
        # A worker process started by uvicorn: log like the CLI does, at [log] level, with
        # the lines written in blocks (a line per message; see bot.logs).
        logs.configure(config.log["level"])
        logs.buffer_stderr()
    return create_app(build_services(config))
