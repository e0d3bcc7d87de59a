"""One dispatch for every message: the first matching route's handler answers.

The router is handed the handlers' routes as data (``handlers.ROUTES``): it compiles them,
finds a message's route and runs its handler.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import NamedTuple

import handlers
from handlers.base import (
    FALLBACK_TEXT,
    Context,
    Handler,
    Message,
    Observer,
    Quick,
    Reply,
    Route,
    Routes,
)
from store.db import StoreUnavailable

log = logging.getLogger("newsbot.router")


class Found(NamedTuple):
    """The route a message takes."""

    func: Handler
    name: str
    quick: Quick


class Dispatched(NamedTuple):
    """What a message's dispatch came to: the handler's reply, its name, the outcome."""

    reply: Reply
    handler: str
    outcome: str  # ok, error (the handler raised: the reply is the fallback text), unhandled


_UNFOUND = object()  # dispatch() without a route found beforehand
_FLAGS = re.compile("", re.DOTALL).flags  # how handlers.base compiles a route's pattern
_BACKREF = re.compile(r"\\[1-9]|\(\?P=")


def _prefilter(routes: list[Route]) -> re.Pattern[str] | None:
    """One pattern that fully matches a text whenever one of ``routes``' patterns does: a
    search, which none of them takes, then costs one match instead of one per route. ``None``
    when there is nothing to gain or they cannot be joined (flags of their own,
    back-references, a group name used twice)."""
    patterns = [r.regex for r in routes if r.regex is not None]
    if len(patterns) < 2:
        return None
    if any(p.flags != _FLAGS or _BACKREF.search(p.pattern) for p in patterns):
        return None
    try:
        return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.DOTALL)
    except re.error:
        return None


# The store's server down or failing over: nothing is wrong with the message, so say to retry
STORE_DOWN_TEXT = "抱歉，新闻库正在维护，请稍后再试。"
STORE_DOWN_ADMIN = "文章库暂时无法连接（store unavailable），本条命令未执行，请稍后再试。"


class Router:
    def __init__(self, *route_sets: Routes) -> None:
        self.routes: list[Route] = []
        self.default: Handler | None = None
        self.default_quick: Quick = False
        self.observers: list[Observer] = []
        # the routes a named message type can take, and their patterns joined (_prefilter)
        self._by_type: dict[str, tuple[list[Route], re.Pattern[str] | None]] = {}
        self._named: frozenset[str] = frozenset()  # the types routes name (and voice)
        # the routes of any other type: those naming none
        self._untyped: tuple[list[Route], re.Pattern[str] | None] = ([], None)
        for rs in route_sets:
            self.include(rs)

    def include(self, routes: Routes) -> None:
        self.routes.extend(routes.routes)
        self.observers.extend(routes.observers)
        # stable: equal priorities keep declaration order
        self.routes.sort(key=lambda r: -r.priority)
        self._by_type = {}
        typed = [r.type for r in self.routes if r.type is not None]
        self._named = frozenset({"voice"}).union(*typed)  # voice also takes the text routes
        untyped = [r for r in self.routes if r.type is None]
        self._untyped = (untyped, _prefilter(untyped))
        if routes.default_handler is not None:
            self.default = routes.default_handler
            self.default_quick = routes.default_quick

    def find(self, msg: Message, ctx: Context) -> Found | None:
        """The route ``msg`` takes (a regex route's match goes into ``ctx.match``)."""
        # once per message: NFKC and trimmed for the regexes, case-folded too for keywords
        plain = unicodedata.normalize("NFKC", msg.content).strip() if msg.content else ""
        text = plain.casefold()
        known = self._by_type.get(msg.type)
        if known is None:  # once per message type: a text never tries the event routes
            if msg.type not in self._named:  # (so a sender making types up grows nothing)
                known = self._untyped
            else:
                routes = [
                    r for r in self.routes
                    if r.type is None or msg.type in r.type
                    or (msg.type == "voice" and "text" in r.type)
                ]
                known = self._by_type[msg.type] = (routes, _prefilter(routes))
        candidates, joined = known
        # no route's pattern can match: their own matches are skipped (a search's case)
        patterns_out = joined is not None and joined.fullmatch(plain) is None
        for r in candidates:
            if r.type is not None and msg.type not in r.type:
                if not (msg.type == "voice" and "text" in r.type and text):
                    continue
            if r.event is not None and msg.event not in r.event:
                continue
            if r.key is not None and msg.key not in r.key:
                continue
            if r.admin and not ctx.is_admin:
                continue
            if r.keyword is not None and text not in r.keyword:
                continue
            if r.regex is not None:
                if patterns_out:
                    continue
                m = r.regex.fullmatch(plain)
                if m is None:
                    continue
                ctx.match = m
            if r.when is not None and not self._holds(r, msg, ctx):
                continue
            return Found(r.func, r.name, r.quick)
        if self.default is not None and msg.type in ("text", "voice") and text:
            name = getattr(self.default, "__name__", "default")
            return Found(self.default, name, self.default_quick)
        return None

    @staticmethod
    def _holds(r: Route, msg: Message, ctx: Context) -> bool:
        """A route's ``when``; one that fails says no (the message goes on to the next)."""
        try:
            return bool(r.when(msg, ctx))  # type: ignore[misc]
        except Exception:
            log.exception("route %s: its condition failed user=%s", r.name, msg.source)
            return False

    def match(self, msg: Message, ctx: Context) -> tuple[Handler, str] | None:
        found = self.find(msg, ctx)
        return None if found is None else (found.func, found.name)

    def is_quick(self, msg: Message, ctx: Context, found: Found | None) -> bool:
        """Whether ``found`` (``find``'s answer for ``msg``) is quick (see
        ``handlers.base.Quick``); a message no handler takes is. A predicate that fails says
        no."""
        if found is None:
            return True
        quick = found.quick
        if not callable(quick):
            return bool(quick)
        try:
            return bool(quick(msg, ctx))
        except Exception:  # the thread is the safe side
            log.exception("quick test of %s failed user=%s", found.name, msg.source)
            return False

    def dispatch(
        self, msg: Message, ctx: Context, found: Found | object | None = _UNFOUND
    ) -> Dispatched:
        """Run the matching handler (``found``, when the caller already asked ``find``)."""
        for obs in self.observers:
            try:
                obs(msg, ctx)
            except Exception:
                log.exception("observer %s failed user=%s", getattr(obs, "__name__", obs), msg.source)
        if found is _UNFOUND:
            found = self.find(msg, ctx)
        if not isinstance(found, Found):
            return Dispatched(None, "-", "unhandled")
        func, name, _ = found
        try:
            return Dispatched(func(msg, ctx), name, "ok")
        except StoreUnavailable as e:
            log.warning("handler %s: store unavailable user=%s: %s", name, msg.source, e)
            return Dispatched(STORE_DOWN_ADMIN if ctx.is_admin else STORE_DOWN_TEXT, name,
                              "unavailable")
        except Exception:
            log.exception(
                "handler %s failed user=%s msgid=%s type=%s event=%s",
                name, msg.source, msg.id or "-", msg.type, msg.event or "-",
            )
            return Dispatched(FALLBACK_TEXT, name, "error")


def build_router(route_sets: list[Routes] | None = None) -> Router:
    """The router of ``route_sets``, by default every handler module's (``handlers.ROUTES``)."""
    return Router(*(handlers.ROUTES if route_sets is None else route_sets))
