"""One dispatch for every message: the first matching route's handler answers."""

from __future__ import annotations

import logging
import unicodedata

from handlers.base import Context, Handler, Message, Observer, Quick, Reply, Route, Routes

log = logging.getLogger("newsbot.router")

FALLBACK_TEXT = "抱歉，系统开小差了，请稍后再试。回复“帮助”查看可用功能。"


def normalise_text(text: str) -> str:
    """Full-width to half-width (NFKC), trimmed and case-folded, for keyword matching."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


class Router:
    def __init__(self, *route_sets: Routes) -> None:
        self.routes: list[Route] = []
        self.default: Handler | None = None
        self.default_quick: Quick = False
        self.observers: list[Observer] = []
        for rs in route_sets:
            self.include(rs)

    def include(self, routes: Routes) -> None:
        self.routes.extend(routes.routes)
        self.observers.extend(routes.observers)
        # stable: equal priorities keep declaration order
        self.routes.sort(key=lambda r: -r.priority)
        if routes.default_handler is not None:
            self.default = routes.default_handler
            self.default_quick = routes.default_quick

    def _find(self, msg: Message, ctx: Context) -> tuple[Handler, str, Quick] | None:
        text = normalise_text(msg.content) if msg.content else ""
        for r in self.routes:
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
                m = r.regex.fullmatch(unicodedata.normalize("NFKC", msg.content).strip())
                if m is None:
                    continue
                ctx.match = m
            return r.func, r.name, r.quick
        if self.default is not None and msg.type in ("text", "voice") and text:
            return self.default, getattr(self.default, "__name__", "default"), self.default_quick
        return None

    def match(self, msg: Message, ctx: Context) -> tuple[Handler, str] | None:
        found = self._find(msg, ctx)
        return None if found is None else (found[0], found[1])

    def is_quick(self, msg: Message, ctx: Context) -> bool:
        """Whether the handler ``msg`` would get is quick (see ``handlers.base.Quick``);
        a message no handler takes is. A predicate that fails says no."""
        found = self._find(msg, ctx)
        if found is None:
            return True
        quick = found[2]
        if not callable(quick):
            return bool(quick)
        try:
            return bool(quick(msg, ctx))
        except Exception:  # the thread is the safe side
            log.exception("quick test of %s failed user=%s", found[1], msg.source)
            return False

    def dispatch(self, msg: Message, ctx: Context) -> tuple[Reply, str, str]:
        """Run the matching handler. Returns (reply, handler name, outcome)."""
        for obs in self.observers:
            try:
                obs(msg, ctx)
            except Exception:
                log.exception("observer %s failed user=%s", getattr(obs, "__name__", obs), msg.source)
        found = self.match(msg, ctx)
        if found is None:
            return None, "-", "unhandled"
        func, name = found
        try:
            return func(msg, ctx), name, "ok"
        except Exception:
            log.exception(
                "handler %s failed user=%s msgid=%s type=%s event=%s",
                name, msg.source, msg.id or "-", msg.type, msg.event or "-",
            )
            return FALLBACK_TEXT, name, "error"
