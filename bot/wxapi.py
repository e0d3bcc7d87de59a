"""The outbound WeChat API: wechatpy's client pointed at ``[wechat] api_base_url``.

What wechatpy 1.8.18 lacks, added here:

* the token comes from ``/cgi-bin/stable_token`` and lives in the shared state backend (through
  a wechatpy session storage), so every process of the account uses one token; one refresher
  at a time holds a state lock, the others wait for its result;
* a token refused with 40001 / 40014 / 42001 is refreshed once and the call retried once
  (wechatpy would recurse for as long as WeChat refuses);
* -1 (busy), HTTP 5xx and network errors are retried with exponential backoff;
* errors become the exceptions of ``bot.wxapi_errors`` (``OutOfWindow``, ``NotFollowing``...),
  which are never retried here: the caller decides.

One ``WeChatAPI`` is shared by threads: the HTTP session is pooled and nothing else is mutable
but the token memo, replaced atomically.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage

from bot.wxapi_errors import (
    ApiUnavailable,
    NotFollowing,
    OutOfWindow,
    QuotaExceeded,
    RateLimited,
    TokenError,
    WeChatAPIError,
    error_for,
)
from handlers.base import Image, News, Text

if TYPE_CHECKING:
    from bot.config import Config
    from bot.state import StateBackend

__all__ = [
    "ApiUnavailable",
    "NotFollowing",
    "OutOfWindow",
    "QuotaExceeded",
    "RateLimited",
    "StateStorage",
    "TokenError",
    "WeChatAPI",
    "WeChatAPIError",
]

log = logging.getLogger("newsbot.wxapi")

REFRESH_CODES = frozenset({40001, 40014, 42001})
TOKEN_MARGIN = 300  # stable_token renews this long before expiry; cache no longer than that
MEMO_SECONDS = 5.0  # a process re-reads the shared token this often
BACKOFF_CAP = 5.0
TAG_BATCH = 50


class StateStorage(SessionStorage):
    """wechatpy's session storage on newsbot's state backend: shared by every process."""

    def __init__(self, state: StateBackend, prefix: str = "wechatpy:") -> None:
        self.state, self.prefix = state, prefix

    def get(self, key: str, default: Any = None) -> Any:
        value = self.state.get(self.prefix + key)
        return default if value is None else value

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        if value is not None:
            self.state.set(self.prefix + key, str(value), ttl)

    def delete(self, key: str) -> None:
        self.state.delete(self.prefix + key)


class _Client(WeChatClient):
    """wechatpy's client with our base URL, token source, retries and errors."""

    def __init__(self, api: WeChatAPI, appid: str, secret: str, session: SessionStorage,
                 timeout: float, pool: int) -> None:
        self._api = api
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=False)
        http = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool, max_retries=0)
        http.mount("http://", adapter)
        http.mount("https://", adapter)
        self._http = http

    @property  # read per call, so a config pointed elsewhere later still takes effect
    def API_BASE_URL(self) -> str:  # type: ignore[override]  # noqa: N802 - wechatpy's name
        return self._api.base_url + "/cgi-bin/"

    @property
    def access_token(self) -> str:  # type: ignore[override]
        return self._api.token()

    def fetch_access_token(self) -> dict[str, Any]:
        return {"access_token": self._api.token(force=True)}

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        api = self._api
        refreshed = False
        attempt = 0
        token: str | None = None
        while True:
            if token is None:
                token = api.token()
            kw = dict(kwargs)
            kw["params"] = {**(kwargs.get("params") or {}), "access_token": token}
            try:
                return super()._request(method, url_or_endpoint, **kw)
            except WeChatAPIError:
                raise
            except WeChatClientException as e:
                code = e.errcode
                result = _json(e.response)
                if code in REFRESH_CODES and not refreshed:
                    refreshed = True
                    log.info("access_token refused (%s), refreshing once", code)
                    # the retry goes out with the token the refresh gave, not the memo's: a
                    # thread that read the shared token just before the refresh stored the new
                    # one may have put the refused one back in the memo meanwhile
                    token = api._refresh(stale=token)
                    continue
                status = getattr(e.response, "status_code", 0) or 0
                if code == -1 or (code is None and status >= 500):
                    if (nxt := api._backoff(attempt)) is not None:
                        attempt = nxt
                        continue
                if code is None:
                    raise ApiUnavailable(None, f"WeChat answered HTTP {status} to "
                                         f"{url_or_endpoint}") from None
                raise error_for(code, str(e.errmsg), result) from None
            except requests.RequestException as e:
                if (nxt := api._backoff(attempt)) is not None:
                    attempt = nxt
                    continue
                local = "://127.0.0.1" in api.base_url or "://localhost" in api.base_url
                hint = ("; is the local emulator running (newsbot serve --demo, or newsbot "
                        "emulator)?" if local else "")
                raise ApiUnavailable(None, f"cannot reach WeChat ({url_or_endpoint}) at "
                                     f"{api.base_url}: {type(e).__name__}{hint}") from None


def _json(response: Any) -> dict[str, Any]:
    try:
        data = response.json()
    except Exception:  # noqa: BLE001 - no response, or not JSON: nothing to keep
        return {}
    return data if isinstance(data, dict) else {}


class WeChatAPI:
    """The account's outbound API. See the module docstring for what it adds to wechatpy."""

    def __init__(self, config: Config, state: StateBackend, *, timeout: float = 5.0,
                 retries: int = 3, backoff: float = 0.2, pool: int = 64) -> None:
        w = config.wechat
        self.config = config
        self.appid, self.secret = w["appid"], w["appsecret"]
        self.state = state
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.session = StateStorage(state)
        self.client = _Client(self, self.appid, self.secret, self.session, timeout, pool)
        self._key = self.client.access_token_key
        self._lock_name = f"wechat:token-refresh:{self.appid}"
        self._memo: tuple[str, float] | None = None

    @property
    def base_url(self) -> str:
        return str(self.config.wechat["api_base_url"]).rstrip("/")

    # -- the token ------------------------------------------------------------------------------
    def token(self, force: bool = False) -> str:
        """The account's access_token: from this process's memo, else the shared state, else
        fetched by one refresher. ``force`` skips both caches and asks WeChat."""
        if not force:
            memo = self._memo
            if memo is not None and memo[1] > time.monotonic():
                return memo[0]
            shared = self.session.get(self._key)
            if shared:
                return self._remember(str(shared))
        return self._refresh(stale=None, always=force)

    def _refresh(self, stale: str | None, always: bool = False) -> str:
        """A token other than ``stale``: taken from whoever refreshed first, or fetched while
        holding the refresh lock."""
        self._memo = None
        owner = f"{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex}"
        hold = self.timeout * (self.retries + 1) * 2 + 5
        deadline = time.monotonic() + hold

        def fresh() -> str | None:
            """A token someone else already stored, if it is one we may use."""
            shared = self.session.get(self._key)
            return str(shared) if shared and shared != stale and not always else None

        while True:
            if self.state.acquire(self._lock_name, owner, hold):
                try:
                    if (shared := fresh()) is not None:
                        return self._remember(shared)
                    token, expires_in = self._fetch(force_refresh=False)
                    if token == stale:  # WeChat hands back the token it just refused
                        token, expires_in = self._fetch(force_refresh=True)
                    self.session.set(self._key, token, max(expires_in - TOKEN_MARGIN, 30))
                    return self._remember(token)
                finally:
                    self.state.release(self._lock_name, owner)
            if (shared := fresh()) is not None:
                return self._remember(shared)
            if time.monotonic() > deadline:
                raise TokenError(None, "timed out waiting for another process's token refresh")
            time.sleep(0.02)

    def _remember(self, token: str) -> str:
        self._memo = (token, time.monotonic() + MEMO_SECONDS)
        return token

    def _fetch(self, force_refresh: bool) -> tuple[str, int]:
        url = f"{self.base_url}/cgi-bin/stable_token"
        body = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
                "force_refresh": force_refresh}
        attempt = 0
        while True:
            try:
                res = self.client._http.post(url, json=body, timeout=self.timeout)
                data = _json(res)
                if res.status_code >= 500 or data.get("errcode") == -1:
                    raise requests.ConnectionError(f"HTTP {res.status_code} {data}")
            except requests.RequestException as e:
                if (nxt := self._backoff(attempt)) is not None:
                    attempt = nxt
                    continue
                raise ApiUnavailable(None, f"cannot fetch an access_token from {url}: "
                                     f"{type(e).__name__}") from None
            break
        if data.get("errcode"):
            code = int(data["errcode"])
            err = error_for(code, str(data.get("errmsg", "")), data)
            if not isinstance(err, QuotaExceeded | RateLimited):
                err = TokenError(code, str(data.get("errmsg", "")), data)
            raise err
        if "access_token" not in data:
            raise TokenError(None, f"no access_token in WeChat's answer (HTTP {res.status_code})")
        log.info("fetched an access_token (force_refresh=%s)", force_refresh)
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    def _backoff(self, attempt: int) -> int | None:
        """After failed try number ``attempt``: sleep (exponential, jittered) and return the
        next try's number, or ``None`` when the retries are used up."""
        if attempt >= self.retries:
            return None
        attempt += 1
        delay = min(self.backoff * 2 ** (attempt - 1), BACKOFF_CAP)
        time.sleep(delay * (0.5 + random.random() / 2))
        return attempt

    # -- messages -------------------------------------------------------------------------------
    def send_text(self, openid: str, content: str, *, clientmsgid: str | None = None) -> dict:
        """A customer-service text to ``openid`` (inside their 48 h window)."""
        data: dict[str, Any] = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        if clientmsgid:
            data["clientmsgid"] = clientmsgid
        return self.client.post("message/custom/send", data=data)

    def send_article(self, openid: str, title: str, description: str, url: str,
                     picurl: str = "") -> dict:
        """A customer-service news message: one article (WeChat's limit for this API)."""
        art = {"title": title, "description": description, "url": url, "picurl": picurl}
        data = {"touser": openid, "msgtype": "news", "news": {"articles": [art]}}
        return self.client.post("message/custom/send", data=data)

    def send_image(self, openid: str, media_id: str) -> dict:
        """A customer-service picture, by the media id of one already on WeChat."""
        data = {"touser": openid, "msgtype": "image", "image": {"media_id": media_id}}
        return self.client.post("message/custom/send", data=data)

    def _mass(self, endpoint: str, data: dict[str, Any]) -> dict:
        try:
            return self.client.post(endpoint, data=data)
        except WeChatAPIError as e:
            if e.errcode == 45065:  # this clientmsgid was sent already: the send stands
                return {**e.result, "errcode": 0, "duplicate": True}
            raise

    def mass_send_text(self, content: str, *, tag_id: int | None = None,
                       clientmsgid: str | None = None) -> dict:
        """A text mass send to every follower, or to the followers with ``tag_id``."""
        flt: dict[str, Any] = {"is_to_all": tag_id is None}
        if tag_id is not None:
            flt["tag_id"] = tag_id
        data: dict[str, Any] = {"filter": flt, "msgtype": "text", "text": {"content": content}}
        if clientmsgid:
            data["clientmsgid"] = clientmsgid
        return self._mass("message/mass/sendall", data)

    def mass_send_text_to(self, openids: list[str], content: str, *,
                          clientmsgid: str | None = None) -> dict:
        """A text mass send to a list of openids (WeChat wants 2 to 10,000)."""
        data: dict[str, Any] = {"touser": list(openids), "msgtype": "text",
                                "text": {"content": content}}
        if clientmsgid:
            data["clientmsgid"] = clientmsgid
        return self._mass("message/mass/send", data)

    # -- users and tags -------------------------------------------------------------------------
    def create_tag(self, name: str) -> int:
        return int(self.client.tag.create(name)["id"])

    def get_tags(self) -> list[dict]:
        return list(self.client.tag.get())

    def tag_users(self, tag_id: int, openids: list[str]) -> None:
        ids = list(openids)
        for i in range(0, len(ids), TAG_BATCH):
            self.client.tag.tag_user(tag_id, ids[i : i + TAG_BATCH])

    def get_followers(self, next_openid: str = "") -> dict:
        return self.client.user.get_followers(next_openid or None)

    def user_info(self, openid: str) -> dict:
        return self.client.user.get(openid)

    # -- the custom menu ------------------------------------------------------------------------
    def create_menu(self, menu: dict) -> None:
        self.client.menu.create(menu)

    def get_menu(self) -> dict:
        """The account's menu (``{"menu": {"button": [...]}}``), or ``{}`` when it has none."""
        return self.client.menu.get() or {}

    # -- the console's auto-replies -------------------------------------------------------------
    def autoreply_info(self) -> dict:
        """The auto-replies set in WeChat's console (``get_current_autoreply_info``)."""
        return dict(self.client.message.get_autoreply_info())

    def selfmenu_info(self) -> dict:
        """The menu WeChat shows: the console's, or the one pushed through the API."""
        return dict(self.client.menu.get_menu_info())

    def close(self) -> None:
        self.client._http.close()


def late_reply_sender(api: WeChatAPI) -> Any:
    """``services.late_reply``: a reply that missed the 5-second budget goes out through the
    customer-service API (text as text, news as its first article: the API's limit). It gets
    the reply as ``bot.replies.normalise`` left it: ``Text``, ``News`` or ``Image``."""

    def send(msg: Any, value: Any) -> None:
        if isinstance(value, Text):
            api.send_text(msg.source, value.content)
        elif isinstance(value, Image):
            api.send_image(msg.source, value.media_id)
        elif isinstance(value, News) and value.articles:
            a = value.articles[0]
            api.send_article(msg.source, a.title, a.description, a.url, a.picurl)

    return send
