"""The ASGI application: ``/wechat`` (the callback), ``/articles/{id}``, ``/healthz``.

Per POST: cap the body, open the envelope, claim the message's dedup key, run the handler in
a worker thread within the reply budget, render and seal the reply, remember it for WeChat's
retries. A handler that outlives the budget is answered ``success`` and its reply is handed to
``late_reply`` (the customer-service API) when it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.config import Config, load_config
from bot.envelope import Envelope, EnvelopeError
from bot.replies import normalise, to_xml
from bot.router import Router
from bot.state import Claim, ClaimStatus, StateBackend, StateUnavailable, open_state
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
    from store.db import open_store

    state = overrides.pop("state", None) or open_state(config)
    store = overrides.pop("store", None) or open_store(config.resolve(config.store["path"]))
    router = overrides.pop("router", None) or build_router()
    services = Services(config=config, state=state, store=store, router=router, **overrides)
    from bot.wxapi import WeChatAPI, late_reply_sender

    if services.api is None:
        services.api = WeChatAPI(config, state)
    if services.late_reply is None:
        services.late_reply = late_reply_sender(services.api)
    setup_services(services)
    return services


async def _read_body(request: Request, cap: int) -> bytes | None:
    """The body, or ``None`` when it is larger than ``cap`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(services: Services) -> Starlette:
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
    admins = config.admin_openids() | set(services.extra.get("admins", ()))
    lane = ThreadPoolExecutor(max_workers=SUBSCRIBER_THREADS, thread_name_prefix="handler")
    pool = ThreadPoolExecutor(max_workers=ADMIN_THREADS, thread_name_prefix="admin")
    pending: set[asyncio.Future[Any]] = set()

    def is_admin(openid: str) -> bool:
        if openid in admins:
            return True
        check = services.extra.get("is_admin")
        return bool(check(openid)) if check else False

    def run_handler(msg: Message, admin: bool) -> tuple[str, str, str, Any]:
        ctx = Context(
            user=msg.source,
            is_admin=admin,
            config=config,
            state=services.state,
            store=services.store,
            api=services.api,
            services=services.extra,
        )
        reply, name, outcome = services.router.dispatch(msg, ctx)
        try:
            value = normalise(reply, msg)
        except TypeError:
            errlog.exception("handler %s returned a bad value user=%s", name, msg.source)
            value, outcome = normalise("抱歉，系统开小差了，请稍后再试。", msg), "error"
        return to_xml(value, msg), name, outcome, value

    # The state backend down (Redis unreachable) must not fail the webhook: the message is
    # handled without dedup (a retry may then run the handler again) and a warning is logged.
    def claim_key(key: str) -> Claim:
        try:
            return services.state.claim(key, lease=budget + 5)
        except StateUnavailable as e:
            errlog.warning("state backend down, handling %s without dedup: %s", key, e)
            return Claim(ClaimStatus.OWNER)

    def remember(key: str, answer: str) -> None:
        try:
            services.state.finish(key, answer, dedup_ttl)
        except StateUnavailable as e:
            errlog.warning("state backend down, reply to %s not kept for retries: %s", key, e)

    async def wait_answer(key: str) -> str | None:
        try:
            return await services.state.wait_async(key, budget)
        except StateUnavailable as e:
            errlog.warning("state backend down while waiting for %s: %s", key, e)
            return None

    # The dedup claim, the handler and storing its reply all run in the worker thread: the
    # event loop never waits on the state backend, and SQLite works outside the GIL meanwhile.
    # ``late`` is set when the reply budget ran out first: finish_late then stores what WeChat
    # was told ("success"), after this returns, so it is the answer that stays.
    def claim_and_run(
        key: str, msg: Message, admin: bool, late: threading.Event
    ) -> tuple[Claim, Any]:
        claim = claim_key(key)
        if claim.status is not ClaimStatus.OWNER:
            return claim, None
        result = run_handler(msg, admin)
        if not late.is_set():
            remember(key, result[0])
        return claim, result

    def finish_late(key: str, msg: Message, fut: asyncio.Future[Any]) -> None:
        pending.discard(fut)
        try:
            _, result = fut.result()
            if result is None:  # a retry whose claim was slow: nothing of ours to finish
                return
            _, name, outcome, value = result
        except Exception:  # noqa: BLE001 - logged; nothing else can be done this late
            errlog.exception("late handler failed user=%s", msg.source)
            return
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

    async def wechat(request: Request) -> Response:
        """Never a 500 or a traceback out: an unexpected failure is logged and answered
        ``success`` (no passive reply), so WeChat shows the user no error."""
        try:
            return await handle(request)
        except Exception:  # noqa: BLE001 - the last line of defence
            errlog.exception("unexpected failure on %s", request.url.path)
            return PlainTextResponse("success")

    async def handle(request: Request) -> Response:
        started = time.perf_counter()
        query = request.query_params
        if request.method == "GET":
            try:
                return PlainTextResponse(envelope.verify_url(query))
            except EnvelopeError as e:
                return PlainTextResponse(e.reason, status_code=e.status)
        try:
            body = await _read_body(request, cap)
        except ClientDisconnect:
            return PlainTextResponse("client went away", status_code=400)
        if body is None:
            return PlainTextResponse("request body too large", status_code=413)
        try:
            msg, encrypted = envelope.open(query, body)
        except EnvelopeError as e:
            errlog.info("refused %s: %s", e.status, e.reason)
            return PlainTextResponse(e.reason, status_code=e.status)
        nonce = query.get("nonce", "")
        key = msg.dedup_key
        loop = asyncio.get_running_loop()
        late = threading.Event()
        admin = is_admin(msg.source)  # once: it picks the threads and goes into the context
        fut = loop.run_in_executor(pool if admin else lane, claim_and_run, key, msg, admin, late)
        try:
            claim, result = await asyncio.wait_for(asyncio.shield(fut), budget)
        except TimeoutError:
            late.set()
            pending.add(fut)
            fut.add_done_callback(lambda f: finish_late(key, msg, f))
            _log_line(msg, "-", "over-budget", started)
            return _xml("success")
        if claim.status is ClaimStatus.DONE:
            _log_line(msg, "-", "retry", started)
            return _xml(envelope.seal(claim.answer or "success", encrypted, nonce))
        if claim.status is ClaimStatus.PENDING:
            answer = await wait_answer(key)
            _log_line(msg, "-", "retry-wait", started)
            return _xml(envelope.seal(answer or "success", encrypted, nonce))
        xml, name, outcome, _ = result
        _log_line(msg, name, outcome, started)
        return _xml(envelope.seal(xml, encrypted, nonce))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "state": services.state.name})

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
        try:
            yield
        finally:
            for stop in services.extra.get("on_stop", ()):
                stop(services)
            lane.shutdown(wait=True)
            pool.shutdown(wait=True)
            services.close()

    app = Starlette(
        routes=[
            Route("/wechat", wechat, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/articles/{article_id}", article_page, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app


def _xml(body: str) -> Response:
    if body == "success":
        return PlainTextResponse("success")
    return Response(body, media_type="application/xml")


def _log_line(msg: Message, handler: str, outcome: str, started: float | None) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    log.info(
        json.dumps(
            {
                "user": msg.source,
                "type": msg.event and f"event:{msg.event}" or msg.type,
                "msgid": msg.id or None,
                "handler": handler,
                "outcome": outcome,
                "ms": ms,
            },
            ensure_ascii=False,
        )
    )


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` (used by ``newsbot serve --workers N``)."""
    config = load_config(os.environ.get("NEWSBOT_CONFIG") or None)
    if not logging.getLogger().handlers:
        # A worker process started by uvicorn: log like the CLI does, at [log] level.
        logging.basicConfig(
            level=config.log["level"],
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
        for noisy in ("httpx", "httpcore", "jieba"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    return create_app(build_services(config))
