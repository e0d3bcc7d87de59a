"""The ASGI application: ``/wechat`` (the callback, see bot.webhook), ``/articles/{id}``,
``/images/{id}``, ``/healthz``, and the services a running bot holds."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

import handlers
from bot import logs, server
from bot.config import Config, load_config
from bot.router import Router, build_router
from bot.scheduler import DigestScheduler, start_digest_scheduler
from bot.state import StateBackend, open_state
from bot.webhook import LateReply, Webhook
from bot.wxapi import WeChatAPI, late_reply_sender
from handlers.base import Shared
from handlers.pages import builtin_cover, render_article_page, render_image
from store.db import Store, open_configured

GC_YOUNG = 10_000  # allocations between the collector's young passes (Python's default 700)


@dataclass
class Services:
    """Everything a running bot holds: built once per process (:func:`build_services`)."""

    config: Config
    state: StateBackend
    store: Store | None
    router: Router
    shared: Shared  # what the handlers keep for the life of the process
    api: WeChatAPI | None = None
    late_reply: LateReply | None = None
    scheduler: DigestScheduler | None = None  # the daily digest's, while the app serves

    def start(self) -> None:
        """Start what runs beside the webhook: the daily digest's schedule, when enabled."""
        if self.config.digest["enabled"] and self.scheduler is None:
            self.scheduler = start_digest_scheduler(self)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None

    def close(self) -> None:
        if hasattr(self.api, "close"):  # (a test's stand-in may have none)
            self.api.close()
        self.state.close()
        if self.store is not None:
            self.store.close()


def build_services(
    config: Config,
    *,
    state: StateBackend | None = None,
    store: Store | None = None,
    router: Router | None = None,
    api: WeChatAPI | None = None,
    late_reply: LateReply | None = None,
) -> Services:
    """Open the store and state named by ``config`` (unless given) and compile the handlers'
    routes; the handlers are handed the router to send a message on."""
    state = state or open_state(config)
    store = store or open_configured(config)
    router = router or build_router()
    api = api or WeChatAPI(config, state)
    shared = handlers.shared(config, store)
    shared.routes = router
    return Services(
        config=config, state=state, store=store, router=router, shared=shared, api=api,
        late_reply=late_reply or late_reply_sender(api),
    )


def create_app(services: Services) -> NewsbotApp:
    return NewsbotApp(services)


class NewsbotApp:
    """The ASGI application: ``/wechat`` goes straight to the :class:`Webhook`; everything
    else (the article pages, ``/healthz``, the lifespan) to a Starlette app."""

    def __init__(self, services: Services, path: str = "/wechat") -> None:
        self.services = services
        self.path = path
        self.webhook = Webhook(services)
        self.pages = Starlette(
            routes=[
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/articles/{article_id}", self.article_page, methods=["GET"]),
                Route("/images/{image_id}", self.image, methods=["GET"]),
                Route("/cover.png", self.cover, methods=["GET"]),
            ],
            lifespan=self.lifespan,
        )
        self.pages.state.services = services
        self.state = self.pages.state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            await self.webhook(scope, receive, send)
        else:
            await self.pages(scope, receive, send)

    async def healthz(self, request: Request) -> Response:
        """200 while the process serves, "degraded" in the body while the state backend
        or the store fails (see bot.gate): a load balancer keeps the host, a person sees why."""
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(self.webhook.pool, self.webhook.gate.probe)
        # the store too (a shared server may be down or failing over): every host shares it,
        # so it is said, not answered with an error that would take this host out of rotation
        store = self.services.store
        engine = getattr(store, "engine", "sqlite")
        up = await loop.run_in_executor(self.webhook.pool, store.available)
        return JSONResponse({"status": "ok" if ok and up else "degraded",
                             "state": self.services.state.name,
                             "store": engine if up else f"{engine} unavailable"})

    async def article_page(self, request: Request) -> Response:
        raw = request.path_params["article_id"]
        status, html = await asyncio.get_running_loop().run_in_executor(
            self.webhook.pool, render_article_page, self.services.store, raw, self.services.config,
            self.services.shared.search_cache,
        )
        return HTMLResponse(html, status_code=status)

    async def image(self, request: Request) -> Response:
        raw = request.path_params["image_id"]
        status, ctype, data = await asyncio.get_running_loop().run_in_executor(
            self.webhook.pool, render_image, self.services.store, raw
        )
        # a kept picture never changes (a new cover is a new id): caches may keep it
        cache = "public, max-age=31536000, immutable" if status == 200 else "no-store"
        return Response(data, status_code=status, media_type=ctype,
                        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})

    async def cover(self, request: Request) -> Response:
        return Response(builtin_cover(), media_type="image/png",
                        headers={"Cache-Control": "public, max-age=86400"})

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        services = self.services
        services.start()
        settle_garbage_collector()
        try:
            yield
        finally:
            services.stop()
            self.webhook.close()
            services.close()
            # a worker of ``serve --workers`` ends without running exit hooks: its last lines
            # (the scheduler letting go of its lock) go out here
            logs.flush()


def settle_garbage_collector() -> None:
    """What the process loaded to start (modules, config, routes) lives as long as it does:
    out of the collector's full scans, which otherwise stall the loop. A message allocates a
    few hundred short-lived objects, nearly none in cycles: a young-generation pass every
    ``GC_YOUNG`` allocations instead of every 700 (kept for speed: see docs/performance.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])


def app_from_env() -> NewsbotApp:
    """Factory for ``uvicorn --factory`` (used by ``newsbot serve --workers N``)."""
    config = load_config(os.environ.get("NEWSBOT_CONFIG") or None)
    server.configure(config.server["read_timeout"], config.server["max_connections"])
    if not logging.getLogger().handlers:
        # A worker process started by uvicorn: log like the CLI does, at [log] level, with
        # the lines written in blocks (a line per message; see bot.logs).
        logs.configure(config.log["level"])
        logs.buffer_stderr()
    return create_app(build_services(config))
