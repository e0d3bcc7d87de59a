"""WeChat's numbers and error codes, as the emulator enforces them (see docs/wechat-platform)."""

from __future__ import annotations

import time

TOKEN_LIFE = 7200  # seconds an access_token lives
TOKEN_OVERLAP = 300  # a replaced token keeps working this long; stable_token renews this early
TOKEN_FETCHES_PER_DAY = 2000  # /cgi-bin/token
STABLE_FETCHES_PER_DAY = 500_000  # /cgi-bin/stable_token, counted apart from /cgi-bin/token
FORCE_REFRESH_PER_DAY = 20
FORCE_REFRESH_GAP = 30  # seconds between two force_refresh fetches

WINDOW_MESSAGE = 48 * 3600  # customer-service window after a user message
BUDGET_MESSAGE = 5  # customer-service messages allowed in it
WINDOW_EVENT = 60  # window after a menu click, follow or scan
BUDGET_EVENT = 3

TEXT_BYTES = 2048  # longest accepted text, UTF-8 bytes
CUSTOM_NEWS_ARTICLES = 1
MASS_PER_DAY_SUBSCRIPTION = 1  # successful mass sends a day, subscription account
MASS_PER_MONTH_SERVICE = 4  # mass messages each user of a service account receives a month
MASS_SEND_MIN, MASS_SEND_MAX = 2, 10000  # openids in one message/mass/send
CLIENTMSGID_TTL = 24 * 3600
CLIENTMSGID_CHARS = 64
TAG_NAME_CHARS = 30
TAGS_PER_ACCOUNT = 100
TAGGING_BATCH = 50
FOLLOWERS_PAGE = 10000
DAY_OFFSET = 8 * 3600  # WeChat's days and months are Beijing time

# Calls per window (seconds) by endpoint: WeChat allows 60 mass-send calls a minute.
DEFAULT_RATE_LIMITS: dict[str, tuple[int, float]] = {
    "message/mass/sendall": (60, 60.0),
    "message/mass/send": (60, 60.0),
}

ERRMSG = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40032: "invalid openid list size",
    40054: "invalid button url domain",
    40125: "invalid appsecret",
    40130: "invalid openid list size, at least two openid",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    44002: "empty post data",
    44003: "empty news data",
    44004: "empty content",
    45002: "content size out of limit",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, must slower, retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45028: "has no masssend quota",
    45056: "too many tags",
    45047: "out of response count limit",
    45065: "clientmsgid exist",
    45067: "clientmsgid size out of limit",
    45157: "invalid tag name",
    45158: "tag name too long",
    45159: "invalid tag id",
    46003: "menu no exist",
    47001: "data format error",
    48001: "api unauthorized",
}


def err(code: int, **extra: object) -> dict:
    return {"errcode": code, "errmsg": ERRMSG.get(code, "error"), **extra}


def day_of(t: float) -> int:
    """The Beijing-time day number of ``t``."""
    return int((t + DAY_OFFSET) // 86400)


def month_of(t: float) -> str:
    tm = time.gmtime(t + DAY_OFFSET)
    return f"{tm.tm_year}-{tm.tm_mon:02d}"
