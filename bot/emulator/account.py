"""One emulated Official Account: its tokens, followers, tags, menu, quotas and deliveries.

Pure rules with an explicit ``now``: the HTTP layer (``bot.emulator.app``) parses requests and
holds the lock; everything here is plain data so tests can reason about it.
"""

from __future__ import annotations

import secrets
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.emulator import rules as R
from bot.emulator.rules import err


@dataclass
class Token:
    value: str
    expires_at: float
    stable: bool
    dies_at: float | None = None  # set when a newer token replaces this one

    def check(self, now: float) -> int:
        if self.dies_at is not None and now >= self.dies_at:
            return 40001
        if now >= self.expires_at:
            return 42001
        return 0


@dataclass
class User:
    openid: str
    following: bool = True
    followed_at: float = 0.0
    spoke_at: float | None = None  # last message the user sent: opens the 48 h window
    spoke_used: int = 0
    event_at: float | None = None  # last click / follow / scan: opens the 1-minute window
    event_used: int = 0
    tags: set[int] = field(default_factory=set)
    mass_by_month: Counter[str] = field(default_factory=Counter)


class Account:
    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        account_type: str = "subscription",
        rate_limits: dict[str, tuple[int, float]] | None = None,
        on_delivery: Callable[[dict[str, Any]], None] | None = None,
        custom_clientmsgid: bool = False,
    ) -> None:
        if account_type not in ("subscription", "service"):
            raise ValueError("account_type is subscription or service")
        self.appid, self.secret, self.account_type = appid, secret, account_type
        self.custom_clientmsgid = custom_clientmsgid
        self.tokens: dict[str, Token] = {}
        # /cgi-bin/token and /cgi-bin/stable_token are kept apart, as WeChat keeps them: each
        # has its own current token and its own daily count
        self.current: Token | None = None
        self.stable_current: Token | None = None
        self.token_days: Counter[int] = Counter()
        self.stable_days: Counter[int] = Counter()
        self.force_days: Counter[int] = Counter()
        self.last_force: float | None = None
        self.users: dict[str, User] = {}
        self.tags: dict[int, str] = {}
        self._next_tag = 100
        self.menu: dict[str, Any] | None = None  # pushed through menu/create
        self.console_menu: dict[str, Any] | None = None  # set in the web console
        self.console_autoreply: dict[str, Any] | None = None
        self.mass_days: Counter[int] = Counter()
        self.clientmsgids: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self.rate_limits = dict(R.DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits)
        self._calls: dict[str, deque[float]] = {}
        self.deliveries: list[dict[str, Any]] = []
        self.stats: Counter[str] = Counter()
        self.on_delivery = on_delivery
        self._msg_id = 1000

    # -- tokens --------------------------------------------------------------------------------
    def _issue(self, now: float, stable: bool, old_dies_at: float | None) -> Token:
        """A new token of one kind; the one it replaces dies at ``old_dies_at`` (``None``:
        it lives out its own life)."""
        old = self.stable_current if stable else self.current
        tok = Token("ACCESS_TOKEN_" + secrets.token_hex(24), now + R.TOKEN_LIFE, stable)
        if old is not None and old.dies_at is None and old_dies_at is not None:
            old.dies_at = old_dies_at
        self.tokens[tok.value] = tok
        if stable:
            self.stable_current = tok
        else:
            self.current = tok
        self.stats["token_fetches"] += 1
        return tok

    def _credentials(self, appid: str, secret: str) -> dict[str, Any] | None:
        if not appid:
            return err(41002)
        if not secret:
            return err(41004)
        if appid != self.appid:
            return err(40013)
        if secret != self.secret:
            return err(40125)
        return None

    def fetch_token(self, appid: str, secret: str, now: float) -> dict[str, Any]:
        """``/cgi-bin/token``: a new token every time; the previous one dies 5 minutes later.
        2000 a day; stable tokens are not touched."""
        bad = self._credentials(appid, secret)
        if bad:
            return bad
        if self.token_days[R.day_of(now)] >= R.TOKEN_FETCHES_PER_DAY:
            return err(45009)
        self.token_days[R.day_of(now)] += 1
        tok = self._issue(now, False, now + R.TOKEN_OVERLAP)
        return {"access_token": tok.value, "expires_in": R.TOKEN_LIFE}

    def stable_token(self, appid: str, secret: str, force: bool, now: float) -> dict[str, Any]:
        """``/cgi-bin/stable_token``: the same token while it is valid, renewed in the last 5
        minutes (the old one lives out its life); ``force_refresh`` makes a new one and the old
        one dies at once, at most 20 a day, 30 s apart. Tokens of ``/cgi-bin/token`` are not
        touched."""
        bad = self._credentials(appid, secret)
        if bad:
            return bad
        day = R.day_of(now)
        if self.stable_days[day] >= R.STABLE_FETCHES_PER_DAY:
            return err(45009)
        cur = self.stable_current
        if not force and cur is not None and cur.check(now) == 0 \
                and cur.expires_at - now > R.TOKEN_OVERLAP:
            self.stable_days[day] += 1
            return {"access_token": cur.value, "expires_in": int(cur.expires_at - now)}
        if force:
            if self.force_days[day] >= R.FORCE_REFRESH_PER_DAY:
                return err(45009)
            if self.last_force is not None and now - self.last_force < R.FORCE_REFRESH_GAP:
                return err(45011)
            self.force_days[day] += 1
            self.last_force = now
        self.stable_days[day] += 1
        tok = self._issue(now, True, now if force else None)
        return {"access_token": tok.value, "expires_in": R.TOKEN_LIFE}

    def check_token(self, token: str | None, now: float) -> int:
        if not token:
            return 41001
        tok = self.tokens.get(token)
        return 40014 if tok is None else tok.check(now)

    def expire_tokens(self) -> None:
        """Make every issued token invalid now (as if WeChat had revoked them)."""
        for tok in self.tokens.values():
            tok.expires_at = 0.0
        self.current = self.stable_current = None

    # -- rate limits ---------------------------------------------------------------------------
    def rate_limited(self, endpoint: str, now: float) -> bool:
        limit = self.rate_limits.get(endpoint)
        if limit is None:
            return False
        count, per = limit
        calls = self._calls.setdefault(endpoint, deque())
        while calls and calls[0] <= now - per:
            calls.popleft()
        if len(calls) >= count:
            return True
        calls.append(now)
        return False

    # -- users ---------------------------------------------------------------------------------
    def user(self, openid: str, now: float) -> User:
        u = self.users.get(openid)
        if u is None:
            u = self.users[openid] = User(openid, followed_at=now)
        return u

    def follow(self, openid: str, now: float, opens_window: bool = False) -> None:
        u = self.user(openid, now)
        if not u.following:
            u.following, u.followed_at = True, now
        if opens_window:
            self.user_event(openid, now)

    def unfollow(self, openid: str, now: float) -> None:
        u = self.user(openid, now)
        u.following = False
        u.spoke_at = u.event_at = None

    def user_spoke(self, openid: str, now: float) -> None:
        """A message from the user: a fresh 48 h window with a budget of 5 messages."""
        u = self.user(openid, now)
        u.following = True
        u.spoke_at, u.spoke_used = now, 0

    def user_event(self, openid: str, now: float) -> None:
        """A menu click, follow or scan: 3 messages within the next minute."""
        u = self.user(openid, now)
        u.following = True
        u.event_at, u.event_used = now, 0

    def _window(self, u: User, now: float) -> int:
        """Spend one customer-service message of ``u``'s budget; 0 or the error code."""
        in_msg = u.spoke_at is not None and now - u.spoke_at <= R.WINDOW_MESSAGE
        in_evt = u.event_at is not None and now - u.event_at <= R.WINDOW_EVENT
        if in_msg and u.spoke_used < R.BUDGET_MESSAGE:
            u.spoke_used += 1
            return 0
        if in_evt and u.event_used < R.BUDGET_EVENT:
            u.event_used += 1
            return 0
        return 45047 if (in_msg or in_evt) else 45015

    # -- deliveries ----------------------------------------------------------------------------
    def _deliver(self, record: dict[str, Any]) -> None:
        self.deliveries.append(record)
        self.stats["deliveries"] += 1
        if self.on_delivery is not None:
            self.on_delivery(record)

    def _next_msg_id(self) -> int:
        self._msg_id += 1
        return self._msg_id

    def _seen(self, channel: str, clientmsgid: str | None, now: float) -> dict[str, Any] | None:
        if not clientmsgid:
            return None
        hit = self.clientmsgids.get((channel, clientmsgid))
        if hit is not None and now - hit[0] < R.CLIENTMSGID_TTL:
            self.stats["duplicates"] += 1
            return hit[1]
        return None

    def _remember(self, channel: str, clientmsgid: str | None, now: float, result: dict) -> None:
        if clientmsgid:
            self.clientmsgids[(channel, clientmsgid)] = (now, result)
