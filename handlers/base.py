"""What every handler module needs: the message, the context, reply values with WeChat's
limits on them, and ``Routes``.

A handler is ``def handler(msg: Message, ctx: Context) -> Reply``. It is declared with a
``Routes`` decorator and filters; the bot is handed the declarations (``handlers.ROUTES``)
and compiles them into one dispatch. Handlers never parse XML and never touch HTTP; what
they need of the bot (its configuration, its state, its outbound client, its routes) they
see through the small interfaces below, which the bot's own classes fill.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from store.db import Store

if TYPE_CHECKING:  # handlers.search_cache and handlers.rules import this module
    from handlers.rules import RuleCache
    from handlers.search_cache import SearchCache

# What people type after a command or a number ("下一页。", "第二页！", "2。"): a route's
# pattern ends with it so that the command still matches (the router has folded full-width
# marks by NFKC, so ！ arrives as !).
END = r"[\s。.!?,、~…;]*"


@dataclass
class Message:
    """One inbound message or event."""

    type: str  # text, image, voice, video, shortvideo, location, link, event, ...
    source: str  # the user's openid (FromUserName)
    target: str  # the account (ToUserName)
    create_time: int
    id: str = ""  # MsgId; empty for events
    content: str = ""  # text content, or a voice message's Recognition
    event: str = ""  # lower-case event name when type == "event"
    key: str = ""  # EventKey
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        """Retry identity: MsgId + sender for messages; time + sender + event + key for events.
        The part that grows with time (MsgId, CreateTime, zero-padded) comes first, so the
        state's claims are written in key order: a claim lands beside the last one instead of
        at a random place in the table (that halves the cost of writing one)."""
        if self.id:
            return f"msg:{self.id.zfill(20)}:{self.source}"
        return f"evt:{self.create_time:020d}:{self.source}:{self.event}:{self.key}"


# -- reply values --------------------------------------------------------------------------------
@dataclass
class Text:
    content: str


@dataclass
class Article:
    title: str
    description: str = ""
    url: str = ""
    picurl: str = ""


@dataclass
class News:
    articles: list[Article] = field(default_factory=list)


@dataclass
class Image:
    """A picture already on WeChat, by its media id (as the console's replies name them)."""

    media_id: str


Reply = None | str | Text | Article | News | Image

# -- WeChat's limits on replies (bot.replies enforces them; lists and digests fit within) ------
WECHAT_TEXT_BYTES = 2048  # the longest text WeChat shows (UTF-8; found, not documented)
TEXT_LIMIT = WECHAT_TEXT_BYTES - 48  # what a text may fill: a margin under WeChat's bound
TITLE_LIMIT = 64  # characters of a news article's title
DESCRIPTION_LIMIT = 120  # characters of a news article's description
NEWS_LIMIT_MESSAGE = 1  # articles shown in reply to a user's message (since 2018-10-12)
NEWS_LIMIT_EVENT = 8  # articles shown in reply to an event (a menu click)
ELLIPSIS = "…"
# What a user hears when their message could not be handled.
FALLBACK_TEXT = "抱歉，系统开小差了，请稍后再试。回复“帮助”查看可用功能。"


def clip_bytes(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` cut to ``limit`` UTF-8 bytes on a character boundary, marked with an ellipsis
    (empty when not even one character fits before it)."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    cut = raw[: max(0, limit - len(ELLIPSIS.encode()))].decode("utf-8", "ignore").rstrip()
    return cut + ELLIPSIS if cut else ""


def clip_chars(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


# -- what handlers see of the bot ---------------------------------------------------------------
class Settings(Protocol):
    """The loaded configuration (bot.config.Config): ``settings.section["key"]``."""

    @property
    def public_url(self) -> str: ...

    def get(self, section: str, key: str) -> Any: ...

    def admin_openids(self) -> frozenset[str]: ...

    def __getattr__(self, section: str) -> dict[str, Any]: ...


class ConversationState(Protocol):
    """The shared state as one message's handler sees it (bot.state.MessageState): values
    that outlive the message (a user's list, an admin's draft), counters, a once-only mark."""

    name: str

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl: float | None = None) -> None: ...

    def delete(self, key: str) -> None: ...

    def add(self, key: str, n: int = 1, ttl: float | None = None) -> None: ...

    def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool: ...


class OutboundAPI(Protocol):
    """The WeChat API client (bot.wxapi.WeChatAPI), as far as the digest and the rules'
    further replies use it."""

    def send_text(self, openid: str, content: str, *, clientmsgid: str | None = None) -> dict: ...

    def mass_send_text(self, content: str, *, tag_id: int | None = None,
                       clientmsgid: str | None = None) -> dict: ...

    def create_tag(self, name: str) -> int: ...

    def get_tags(self) -> list[dict]: ...

    def tag_users(self, tag_id: int, openids: list[str]) -> None: ...

    def send_image(self, openid: str, media_id: str) -> dict: ...

    def send_article(self, openid: str, title: str, description: str, url: str,
                     picurl: str = "") -> dict: ...


class RouteFinder(Protocol):
    """The bot's compiled routes (bot.router.Router): a message's handler, and the default."""

    default: Handler | None

    def match(self, msg: Message, ctx: Context) -> tuple[Handler, str] | None: ...


@dataclass
class Shared:
    """What handlers keep for the life of the process: made once by ``handlers.shared``,
    completed by the bot with its routes."""

    is_admin: Callable[[str], bool]  # whether an openid is an admin's
    search_cache: SearchCache | None = None  # recent search pages (handlers.search_cache)
    rules: RuleCache | None = None  # the compiled keyword rules (handlers.rules)
    routes: RouteFinder | None = None  # to send a message on (trimmed voice, admins' text)


@dataclass
class Context:
    """What a handler may use besides the message. ``config`` is the loaded config, ``state``
    the shared state, ``store`` the article store, ``api`` the outbound WeChat client
    (``None`` when not configured), ``match`` the regex match of a ``regex=`` route,
    ``shared`` what the handlers keep for the life of the process."""

    user: str
    is_admin: bool
    config: Settings
    state: ConversationState
    store: Store
    api: OutboundAPI | None = None
    match: re.Match[str] | None = None
    now: float = field(default_factory=time.time)
    shared: Shared = field(default_factory=lambda: Shared(is_admin=lambda openid: False))
    # side effects kept until the message is known to be ours (see once_ours); None: run them
    deferred: list[tuple[Callable[..., None], tuple[Any, ...]]] | None = None

    def once_ours(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)``, a side effect of handling the message (a query-log row), once
        the message is known to be this worker's. The webhook runs a quick handler before
        it claims the message: it keeps these until the claim, and drops them when a retry
        turns out to be claimed already. Elsewhere (``deferred`` is None) they run at once."""
        if self.deferred is None:
            fn(*args)
        else:
            self.deferred.append((fn, args))

    def run_deferred(self) -> None:
        """Run what :meth:`once_ours` kept (the message is ours), each on its own."""
        kept, self.deferred = self.deferred or [], None
        for fn, args in kept:
            try:
                fn(*args)
            except Exception:  # a side effect must not cost the reply
                logging.getLogger("newsbot.handlers").exception(
                    "%s failed user=%s", getattr(fn, "__name__", fn), self.user
                )


Handler = Callable[[Message, Context], Reply]
# Whether a message's handler is quick: no network, no store writes, a few milliseconds of
# work at most. The webhook runs quick handlers on its event loop (no thread hand-off) and
# the others in threads. A callable decides per message (e.g. a search whose page is cached).
Quick = bool | Callable[[Message, Context], bool]


@dataclass(frozen=True)
class Route:
    func: Handler
    name: str
    type: frozenset[str] | None = None
    event: frozenset[str] | None = None
    key: frozenset[str] | None = None
    keyword: frozenset[str] | None = None
    regex: re.Pattern[str] | None = None
    admin: bool = False
    priority: int = 0
    quick: Quick = False
    when: Callable[[Message, Context], bool] | None = None


def _set(v: str | Iterable[str] | None, lower: bool = True) -> frozenset[str] | None:
    if v is None:
        return None
    items = [v] if isinstance(v, str) else list(v)
    return frozenset(i.lower() if lower else i for i in items)


class Routes:
    """Collects handler declarations of one module; ``bot.router.Router`` compiles them.

    Filters (all given ones must hold): ``type`` (message types), ``event`` (event names),
    ``key`` (EventKey values), ``keyword`` (the whole text, after trimming and case folding),
    ``regex`` (``fullmatch`` on the trimmed text), ``admin`` (only admins' messages), ``when``
    (a predicate of the message and context, for what is only known at run time, such as the
    stored keyword rules; it is asked last). Higher
    ``priority`` is tried first, then declaration order. ``quick`` (see :data:`Quick`) says
    whether the handler may run on the event loop.
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.default_handler: Handler | None = None
        self.default_quick: Quick = False
        self.observers: list[Callable[[Message, Context], None]] = []

    def add(
        self,
        func: Handler,
        *,
        type: str | Iterable[str] | None = None,  # noqa: A002 - mirrors WeChat's MsgType
        event: str | Iterable[str] | None = None,
        key: str | Iterable[str] | None = None,
        keyword: str | Iterable[str] | None = None,
        regex: str | None = None,
        admin: bool = False,
        priority: int = 0,
        name: str | None = None,
        quick: Quick = False,
        when: Callable[[Message, Context], bool] | None = None,
    ) -> Handler:
        if keyword is not None or regex is not None:
            type = type or "text"
        if event is not None or key is not None:
            type = type or "event"
        self.routes.append(
            Route(
                func=func,
                name=name or func.__name__,
                type=_set(type),
                event=_set(event),
                key=_set(key, lower=False),
                keyword=_set(keyword),
                regex=re.compile(regex, re.DOTALL) if regex else None,
                admin=admin,
                priority=priority,
                quick=quick,
                when=when,
            )
        )
        return func

    def __call__(self, **filters: Any) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`: ``@routes(keyword=("帮助", "help"))``."""

        def deco(func: Handler) -> Handler:
            return self.add(func, **filters)

        return deco

    def observe(self, func: Callable[[Message, Context], None]) -> Callable[[Message, Context], None]:
        """Run ``func(msg, ctx)`` for every message before dispatch (e.g. to note when a user
        last spoke). An observer that raises is logged and does not stop the message."""
        self.observers.append(func)
        return func

    def default(self, func: Handler | None = None, *, quick: Quick = False) -> Any:
        """The handler for text nobody else claims: ``@routes.default`` or
        ``@routes.default(quick=...)``."""

        def deco(f: Handler) -> Handler:
            self.default_handler = f
            self.default_quick = quick
            return f

        return deco(func) if func is not None else deco


Observer = Callable[[Message, Context], None]
