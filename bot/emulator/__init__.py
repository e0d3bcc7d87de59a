"""A local WeChat: the API newsbot calls, with the platform's rules, faults on demand, and the
users' side (messages to the bot's callback). Served by uvicorn, in a thread for tests
(:meth:`Emulator.start`) or as ``newsbot emulator``.

``custom_clientmsgid=True`` makes ``message/custom/send`` honour ``clientmsgid`` (the
emulator's own extension; WeChat documents it for mass sends only, so it is off by default).

Time is the emulator's own: ``clock`` (default ``time.time``) plus an offset moved by
:meth:`Emulator.advance`, so tests cross a 2-hour token life or a 48-hour window instantly.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from bot.emulator.account import Account
from bot.emulator.console import set_console
from bot.emulator.faults import Fault, Faults
from bot.emulator.users import UserSide

__all__ = ["Emulator", "Fault"]

log = logging.getLogger("newsbot.emulator")

_USER_MESSAGES = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link"})
_WINDOW_EVENTS = frozenset({"click", "subscribe", "scan", "view"})


class Emulator:
    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        account_type: str = "subscription",
        clock: Callable[[], float] = time.time,
        callback: str | None = None,
        token: str = "",
        aes_key: str | None = None,
        encrypt: bool = False,
        rate_limits: dict[str, tuple[int, float]] | None = None,
        log_path: str | Path | None = None,
        seed: int | None = None,
        custom_clientmsgid: bool = False,
    ) -> None:
        from bot.emulator.app import create_app  # here: that module imports this package

        self.clock = clock
        self.offset = 0.0
        self.lock = threading.RLock()
        self.account = Account(appid, secret, account_type=account_type,
                               rate_limits=rate_limits, on_delivery=self._log_delivery,
                               custom_clientmsgid=custom_clientmsgid)
        self.faults = Faults()
        if seed is not None:
            self.faults.rng.seed(seed)
        self._bot = (token, appid, aes_key, encrypt)
        self.users_side: UserSide | None = None
        if callback:
            self.connect(callback)
        self.log_path = Path(log_path) if log_path else None
        self._log_file = self.log_path.open("a", encoding="utf-8", buffering=1) \
            if self.log_path else None
        self.app = create_app(self)
        self.url: str | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- time ----------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock() + self.offset

    def advance(self, seconds: float) -> float:
        """Move the emulator's clock forward (tokens age, windows close, days turn)."""
        with self.lock:
            self.offset += seconds
            return self.now()

    # -- what happened -------------------------------------------------------------------------
    @property
    def deliveries(self) -> list[dict[str, Any]]:
        return self.account.deliveries

    @property
    def token_fetches(self) -> int:
        return self.account.stats["token_fetches"]

    def count(self, key: str) -> None:
        with self.lock:
            self.account.stats[key] += 1

    def stats(self) -> dict[str, Any]:
        with self.lock:
            s = dict(self.account.stats)
            s.setdefault("token_fetches", 0)
            s.setdefault("deliveries", 0)
            s["followers"] = sum(1 for u in self.account.users.values() if u.following)
            s["now"] = self.now()
            return s

    def users(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"openid": u.openid, "following": u.following, "spoke_at": u.spoke_at,
                     "spoke_used": u.spoke_used, "event_at": u.event_at,
                     "tags": sorted(u.tags)} for u in self.account.users.values()]

    def _log_delivery(self, d: dict[str, Any]) -> None:
        content = str(d.get("content", "")).replace("\n", " / ")
        if len(content) > 80:
            content = content[:79] + "…"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d["at"]))
        line = f"{stamp} {d['channel']} {d['msgtype']} -> {d['openid']}: {content}"
        log.info("delivered %s", line)
        if self._log_file is not None:
            self._log_file.write(line + "\n")

    # -- the users -----------------------------------------------------------------------------
    def follow(self, openid: str, *, at: float | None = None, opens_window: bool = False) -> None:
        """``openid`` follows the account. A plain follow sets up an existing follower;
        ``opens_window=True`` also opens the 1-minute window a real follow event opens."""
        with self.lock:
            self.account.follow(openid, self.now() if at is None else at, opens_window)

    def unfollow(self, openid: str, *, at: float | None = None) -> None:
        with self.lock:
            self.account.unfollow(openid, self.now() if at is None else at)

    def user_spoke(self, openid: str, at: float | None = None) -> None:
        """``openid`` sent the account a message at ``at``: opens the 48 h window."""
        with self.lock:
            self.account.user_spoke(openid, self.now() if at is None else at)

    def user_event(self, openid: str, at: float | None = None) -> None:
        """A menu click, follow or scan by ``openid``: opens the 1-minute window."""
        with self.lock:
            self.account.user_event(openid, self.now() if at is None else at)

    def _note(self, openid: str, msgtype: str, event: str = "") -> None:
        """The window an inbound message opens (or the follow it ends), as WeChat keeps it."""
        if msgtype in _USER_MESSAGES:
            self.user_spoke(openid)
        elif event == "unsubscribe":
            self.unfollow(openid)
        elif event in _WINDOW_EVENTS:
            self.user_event(openid)

    def observe(self, msg: Any) -> None:
        """Note an inbound message the bot received some other way (``newsbot send`` in the
        demo), as WeChat would have noted it on its way through."""
        self._note(msg.source, msg.type, msg.event)

    def say(self, openid: str, text: str, *, encrypt: bool | None = None) -> Any:
        """``openid`` sends ``text`` to the bot: noted, then POSTed signed to its callback.
        Returns the bot's passive reply (a ``bot.callback.BotReply``)."""
        self._note(openid, "text")
        return self._side().send(openid, text=text, encrypt=encrypt)

    def event(self, openid: str, event: str, key: str = "", *,
              encrypt: bool | None = None) -> Any:
        """``openid`` triggers ``event`` (subscribe, unsubscribe, CLICK, SCAN…) at the bot."""
        self._note(openid, "event", event.lower())
        return self._side().send(openid, event=event, key=key, encrypt=encrypt)

    def click(self, openid: str, key: str) -> Any:
        return self.event(openid, "CLICK", key)

    def connect(self, callback: str) -> None:
        """Play users against the bot whose callback URL is ``callback``."""
        token, appid, aes_key, encrypt = self._bot
        if self.users_side is not None:
            self.users_side.close()
        self.users_side = UserSide(callback, token, appid, aes_key, encrypt=encrypt)

    def _side(self) -> UserSide:
        if self.users_side is None:
            raise RuntimeError("the emulator has no bot callback: pass callback=URL")
        return self.users_side

    # -- the web console ---------------------------------------------------------------------
    def set_console(self, autoreply: dict[str, Any] | None = None,
                    menu: dict[str, Any] | None = None) -> None:
        """What the account's editors set in WeChat's console, in WeChat's own shapes (see
        ``bot.emulator.console``): reported by ``get_current_autoreply_info`` and
        ``get_current_selfmenu_info``."""
        with self.lock:
            set_console(self.account, autoreply, menu)

    # -- faults --------------------------------------------------------------------------------
    def inject(self, kind: str, endpoint: str | None = None, **kw: Any) -> Fault:
        """Add a fault (see ``bot.emulator.faults``); returns it (``.fired`` counts hits)."""
        return self.faults.add(Fault(kind, endpoint, **kw))

    def clear_faults(self) -> None:
        self.faults.clear()

    def expire_tokens(self) -> None:
        with self.lock:
            self.account.expire_tokens()

    # -- serving -------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 = a free port) in a daemon thread; returns the base URL."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.url = f"http://{host}:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=2, backlog=2048)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        daemon=True, name="wechat-emulator")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = None
        if self.users_side is not None:
            self.users_side.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Emulator:  # noqa: PYI034 - final in practice
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
