"""Redis state backend: one Redis shared by every worker process on every host of an account.

Each read-then-write rule of the contract is one Lua script, which Redis runs atomically, so no
WATCH/MULTI retry loops are needed. Expiry is Redis's own (``PX``), so a dead worker's claims
and locks free themselves. Keys live under a prefix (``newsbot:<appid>:`` from ``open_state``)
so several accounts can share one server:

    <prefix>c:<key>   a message claim: "P" while pending (expires with the lease), "A<answer>"
    <prefix>v:<key>   a value or a counter
    <prefix>l:<name>  a lock: the holder's id
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from bot.state import Claim, ClaimStatus, StateBackend, StateUnavailable, Write

log = logging.getLogger("newsbot.state")

_CLAIM = """
local v = redis.call('GET', KEYS[1])
if v then
  if string.sub(v, 1, 1) == 'A' then return {'done', string.sub(v, 2)} end
  return {'pending', ''}
end
redis.call('SET', KEYS[1], 'P', 'PX', ARGV[1])
return {'owner', ''}
"""

_INCR = """
local fresh = redis.call('EXISTS', KEYS[1]) == 0
local n = redis.call('INCRBY', KEYS[1], ARGV[2] or 1)
if fresh and tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""

_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

_BIND = """
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Socket limits that fit inside WeChat's 5 s reply window; a ``?socket_timeout=`` in the URL wins.
_DEFAULTS = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}


def _ms(seconds: float) -> int:
    """Redis expiries are whole milliseconds and must be positive."""
    return max(1, int(seconds * 1000))


class RedisState(StateBackend):
    name = "redis"

    def __init__(self, url: str, *, prefix: str = "newsbot:", cooldown: float = 1.0) -> None:
        self.url = url
        self.prefix = prefix
        # After a connection failure, calls fail at once for ``cooldown`` seconds instead of
        # each paying the connect timeout: the webhook keeps answering while Redis is down.
        self.cooldown = cooldown
        self._down_until = 0.0
        self._guard = threading.Lock()
        kwargs = dict(_DEFAULTS)
        kwargs["retry"] = Retry(ExponentialBackoff(cap=0.1, base=0.01), retries=1)
        try:
            self.r = redis.Redis.from_url(url, decode_responses=True, **kwargs)
        except ValueError as e:
            raise StateUnavailable(f"bad [state] url {_safe(url)}: {e}") from None
        self._claim = self.r.register_script(_CLAIM)
        self._incr = self.r.register_script(_INCR)
        self._acquire = self.r.register_script(_ACQUIRE)
        self._release = self.r.register_script(_RELEASE)
        self._bind = self.r.register_script(_BIND)

    def _call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Run one Redis command; connection trouble becomes :class:`StateUnavailable`."""
        if time.monotonic() < self._down_until:
            raise StateUnavailable(f"redis at {_safe(self.url)} is unreachable (recently failed)")
        try:
            return fn(*args, **kwargs)
        except redis.AuthenticationError as e:
            raise StateUnavailable(f"redis at {_safe(self.url)} refused the login: {e}") from None
        except (redis.ConnectionError, redis.TimeoutError) as e:
            with self._guard:
                self._down_until = time.monotonic() + self.cooldown
            log.debug("redis at %s unreachable: %s", _safe(self.url), e)  # the caller warns
            raise StateUnavailable(f"redis at {_safe(self.url)} is unreachable: {e}") from None

    def _k(self, kind: str, key: str) -> str:
        return f"{self.prefix}{kind}:{key}"

    # -- claims -------------------------------------------------------------------------------
    def claim(self, key: str, lease: float) -> Claim:
        status, answer = self._call(self._claim, keys=[self._k("c", key)], args=[_ms(lease)])
        if status == "done":
            return Claim(ClaimStatus.DONE, answer)
        return Claim(ClaimStatus.PENDING if status == "pending" else ClaimStatus.OWNER)

    def finish(self, key: str, answer: str, ttl: float) -> None:
        self.finish_with(key, answer, ttl, ())

    def answer(self, key: str) -> str | None:
        v = self._call(self.r.get, self._k("c", key))
        return v[1:] if v is not None and v.startswith("A") else None

    # -- values -------------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        return self._call(self.r.get, self._k("v", key))

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self._call(self.r.set, self._k("v", key), value, px=_px(ttl))

    def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        return bool(self._call(self.r.set, self._k("v", key), value, px=_px(ttl), nx=True))

    def delete(self, key: str) -> None:
        self._call(self.r.delete, self._k("v", key))

    def bind(self, key: str, value: str, ttl: float) -> str:
        return str(self._call(self._bind, keys=[self._k("v", key)], args=[value, _ms(ttl)]))

    def bind_many(self, items: Sequence[tuple[str, str, float]]) -> list[str]:
        pipe = self.r.pipeline(transaction=False)
        for key, value, ttl in items:
            self._bind(keys=[self._k("v", key)], args=[value, _ms(ttl)], client=pipe)
        return [str(v) for v in self._call(pipe.execute)]

    def incr(self, key: str, ttl: float | None = None) -> int:
        try:
            return int(self._call(self._incr, keys=[self._k("v", key)], args=[_px(ttl, 0)]))
        except redis.ResponseError as e:
            raise ValueError(f"state value {key!r} is not a counter: {e}") from None

    def add(self, key: str, n: int = 1, ttl: float | None = None) -> None:
        try:
            self._call(self._incr, keys=[self._k("v", key)], args=[_px(ttl, 0), n])
        except redis.ResponseError:
            pass  # a text value: left as it is

    def finish_with(
        self, key: str, answer: str | None, ttl: float, writes: Sequence[Write]
    ) -> None:
        pipe = self.r.pipeline(transaction=True)
        for w in writes:
            if w[0] == "set":
                pipe.set(self._k("v", w[1]), w[2], px=_px(w[3]))
            elif w[0] == "delete":
                pipe.delete(self._k("v", w[1]))
            else:
                self._incr(keys=[self._k("v", w[1])], args=[_px(w[3], 0), w[2]], client=pipe)
        if answer is not None:
            pipe.set(self._k("c", key), "A" + answer, px=_ms(ttl))
        # a counter over a text value fails alone; the other writes of the message still hold
        self._call(pipe.execute, raise_on_error=False)

    # -- locks --------------------------------------------------------------------------------
    def acquire(self, name: str, owner: str, ttl: float) -> bool:
        return bool(self._call(self._acquire, keys=[self._k("l", name)], args=[owner, _ms(ttl)]))

    def release(self, name: str, owner: str) -> bool:
        return bool(self._call(self._release, keys=[self._k("l", name)], args=[owner]))

    def close(self) -> None:
        self.r.close()


def _px(ttl: float | None, forever: int | None = None) -> int | None:
    """A ttl in Redis's milliseconds; ``forever`` (no expiry) when there is none."""
    return _ms(ttl) if ttl is not None else forever


def _safe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
