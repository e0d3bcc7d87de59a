"""The emulator's HTTP face: WeChat's ``/cgi-bin/...`` API and its own ``/emulator/...`` panel.

Every ``/cgi-bin`` call runs its faults' plan first (latency, error, timeout, drop), then the
account's rules under the emulator's lock, so concurrent calls see one consistent account.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bot.emulator import console, directory, messages
from bot.emulator.faults import Fault
from bot.emulator.rules import err

if TYPE_CHECKING:
    from bot.emulator import Emulator

Call = Callable[["Emulator", Request, dict[str, Any], float], dict[str, Any]]


def _token(emu: Emulator, req: Request, body: dict[str, Any], now: float) -> dict[str, Any]:
    q = req.query_params
    if q.get("grant_type") != "client_credential":
        return err(40002)
    return emu.account.fetch_token(q.get("appid", ""), q.get("secret", ""), now)


def _stable(emu: Emulator, req: Request, body: dict[str, Any], now: float) -> dict[str, Any]:
    if body.get("grant_type") != "client_credential":
        return err(40002)
    appid, secret, force = body.get("appid", ""), body.get("secret", ""), body.get(
        "force_refresh", False)
    if not isinstance(appid, str) or not isinstance(secret, str) or not isinstance(force, bool):
        return err(47001)
    return emu.account.stable_token(appid, secret, force, now)


# endpoint -> (HTTP method, needs a token, call)
ENDPOINTS: dict[str, tuple[str, bool, Call]] = {
    "token": ("GET", False, _token),
    "stable_token": ("POST", False, _stable),
    "message/custom/send": ("POST", True, lambda e, r, b, n: messages.custom_send(e.account, b, n)),
    "message/mass/sendall": ("POST", True,
                             lambda e, r, b, n: messages.mass_sendall(e.account, b, n)),
    "message/mass/send": ("POST", True, lambda e, r, b, n: messages.mass_send(e.account, b, n)),
    "tags/create": ("POST", True, lambda e, r, b, n: directory.tags_create(e.account, b)),
    "tags/get": ("GET", True, lambda e, r, b, n: directory.tags_get(e.account)),
    "tags/members/batchtagging": ("POST", True,
                                  lambda e, r, b, n: directory.batchtagging(e.account, b)),
    "user/get": ("GET", True, lambda e, r, b, n: directory.user_get(
        e.account, r.query_params.get("next_openid", ""))),
    "user/info": ("GET", True, lambda e, r, b, n: directory.user_info(
        e.account, r.query_params.get("openid", ""))),
    "menu/create": ("POST", True, lambda e, r, b, n: directory.menu_create(e.account, b)),
    "menu/get": ("GET", True, lambda e, r, b, n: directory.menu_get(e.account)),
    "get_current_autoreply_info": ("GET", True, lambda e, r, b, n: console.autoreply_info(
        e.account)),
    "get_current_selfmenu_info": ("GET", True, lambda e, r, b, n: console.selfmenu_info(
        e.account)),
}


class _Dropped(Response):
    """Announces a body and sends half of it: the server then closes the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"64")]})
        await send({"type": "http.response.body", "body": b'{"errcode":', "more_body": True})


async def _disrupt(fault: Fault, request: Request) -> Response:
    if fault.kind == "drop":
        return _Dropped()
    deadline = time.monotonic() + (fault.seconds or 0.0)
    while time.monotonic() < deadline:  # hold the line, but let go once the caller hangs up
        if await request.is_disconnected():
            break
        await asyncio.sleep(0.05)
    return JSONResponse(err(-1))


def _parse(raw: bytes) -> dict[str, Any] | None:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _body_problem(method: str, raw: bytes, body: dict[str, Any] | None) -> int:
    """WeChat's answer to a body it cannot take: 44002 empty (for a POST), 47001 not JSON."""
    if method == "POST" and not raw.strip():
        return 44002
    return 47001 if body is None else 0


def create_app(emu: Emulator) -> Starlette:
    api = EmulatorAPI(emu)
    return Starlette(routes=[
        Route("/cgi-bin/{endpoint:path}", api.cgi, methods=["GET", "POST"]),
        Route("/emulator/deliveries", api.deliveries, methods=["GET"]),
        Route("/emulator/stats", api.stats, methods=["GET"]),
        Route("/emulator/users", api.users, methods=["GET"]),
        Route("/emulator/users/{openid}/{action}", api.user_action, methods=["POST"]),
        Route("/emulator/faults", api.faults, methods=["GET", "POST", "DELETE"]),
        Route("/emulator/console", api.console, methods=["GET", "POST"]),
        Route("/emulator/clock", api.clock, methods=["GET", "POST"]),
    ])


class EmulatorAPI:
    """The emulator's endpoints: WeChat's ``/cgi-bin/…`` and its own ``/emulator/…``."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    async def cgi(self, request: Request) -> Response:
        emu = self.emu
        endpoint = request.path_params["endpoint"].strip("/")
        spec = ENDPOINTS.get(endpoint)
        if spec is None:
            return JSONResponse(err(48001))
        if request.method != spec[0]:  # WeChat answers 200 with a code, not HTTP 405
            return JSONResponse(err(43001 if spec[0] == "GET" else 43002))
        raw = await request.body()
        plan = emu.faults.plan(endpoint)
        if plan.delay:
            await asyncio.sleep(plan.delay)
        fault = plan.fault
        if fault is not None:
            emu.count(f"faults:{fault.kind}")
            if fault.kind == "error":
                return JSONResponse(err(fault.errcode))
            if not fault.after:
                return await _disrupt(fault, request)
        result = self.call(endpoint, request, raw)
        if fault is not None:
            return await _disrupt(fault, request)
        return JSONResponse(result)

    def call(self, endpoint: str, request: Request, raw: bytes) -> dict:
        """One API call as the account answers it: its token, its body, its rate limits, its
        rules."""
        method, needs_token, call = ENDPOINTS[endpoint]
        body = _parse(raw)
        emu = self.emu
        with emu.lock:
            now = emu.now()
            acct = emu.account
            acct.stats[f"calls:{endpoint}"] += 1
            token_code = acct.check_token(request.query_params.get("access_token"), now) \
                if needs_token else 0
            if code := token_code or _body_problem(method, raw, body):
                result = err(code)
            elif acct.rate_limited(endpoint, now):
                result = err(45011)
            else:
                try:
                    result = call(emu, request, body or {}, now)
                except (AttributeError, TypeError, ValueError, KeyError):
                    result = err(47001)  # a field of the wrong JSON type
            if result.get("errcode"):
                acct.stats[f"errors:{result['errcode']}"] += 1
        return result

    async def deliveries(self, request: Request) -> Response:
        q = request.query_params
        since = int(q["since"]) if q.get("since", "").isdigit() else 0
        with self.emu.lock:
            kept = self.emu.account.deliveries[since:]
            items = [dict(d, index=i) for i, d in enumerate(kept, since)]
        if q.get("openid"):
            items = [d for d in items if d.get("openid") == q["openid"]]
        if q.get("channel"):
            items = [d for d in items if d.get("channel") == q["channel"]]
        return JSONResponse({"count": len(items), "deliveries": items})

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.emu.stats())

    async def users(self, request: Request) -> Response:
        return JSONResponse({"users": self.emu.users()})

    async def user_action(self, request: Request) -> Response:
        openid, action = request.path_params["openid"], request.path_params["action"]
        body = _parse(await request.body()) or {}
        if action == "follow":
            self.emu.follow(openid, opens_window=bool(body.get("window")))
        elif action == "unfollow":
            self.emu.unfollow(openid)
        elif action == "spoke":
            self.emu.user_spoke(openid)
        elif action in ("say", "event"):
            return await self.play(openid, action, body)
        else:
            return JSONResponse({"error": f"unknown action {action}"}, 404)
        return JSONResponse({"ok": True})

    async def play(self, openid: str, action: str, body: dict[str, Any]) -> Response:
        """A user's text or event, noted and sent on to the bot; ``callback`` in the body
        names the bot when the emulator was started without one."""
        emu = self.emu
        callback = body.get("callback")
        if isinstance(callback, str) and callback and (
                emu.users_side is None or emu.users_side.callback != callback):
            emu.connect(callback)
        if emu.users_side is None:
            return JSONResponse({"error": "no bot callback configured"}, 409)
        encrypt = body.get("encrypt")
        encrypt = encrypt if isinstance(encrypt, bool) else None
        try:
            if action == "say":
                reply = await run_in_threadpool(emu.say, openid, str(body.get("text", "")),
                                                encrypt=encrypt)
            else:
                reply = await run_in_threadpool(emu.event, openid, str(body.get("event", "")),
                                                str(body.get("key", "")), encrypt=encrypt)
        except httpx.HTTPError as e:
            return JSONResponse({"error": f"cannot reach the bot at {emu.users_side.callback}:"
                                          f" {type(e).__name__}"}, 502)
        return JSONResponse({"kind": reply.kind, "reply": reply.render(),
                             "status": reply.status, "raw": reply.raw})

    async def console(self, request: Request) -> Response:
        """The console's rules: set them (POST) and read back what WeChat would report."""
        emu = self.emu
        if request.method == "POST":
            body = _parse(await request.body())
            if body is None:
                return JSONResponse({"error": "the body must be a JSON object"}, 400)
            try:
                with emu.lock:
                    console.set_console(emu.account, body.get("autoreply"), body.get("menu"))
            except (console.ConsoleError, AttributeError) as e:
                return JSONResponse({"error": str(e)}, 400)
        with emu.lock:
            return JSONResponse({"autoreply": console.autoreply_info(emu.account),
                                 "menu": console.selfmenu_info(emu.account)})

    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.emu.clear_faults()
        elif request.method == "POST":
            body = _parse(await request.body()) or {}
            try:
                self.emu.faults.add(Fault(**body))
            except (TypeError, ValueError) as e:
                return JSONResponse({"error": str(e)}, 400)
        return JSONResponse({"faults": [f.as_dict() for f in self.emu.faults.faults]})

    async def clock(self, request: Request) -> Response:
        if request.method == "POST":
            body = _parse(await request.body()) or {}
            try:
                self.emu.advance(float(body.get("advance", 0)))
            except (TypeError, ValueError):
                return JSONResponse({"error": "advance must be a number of seconds"}, 400)
        return JSONResponse({"now": self.emu.now(), "offset": self.emu.offset})
