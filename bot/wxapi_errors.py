"""Errors of the outbound WeChat API, by what the caller should do about them."""

from __future__ import annotations

from typing import Any

from wechatpy.exceptions import WeChatClientException


class WeChatAPIError(WeChatClientException):
    """WeChat refused the call: ``errcode`` and ``errmsg`` as WeChat sent them, ``result`` the
    whole answer. A ``WeChatClientException``, so wechatpy's own error handling still applies."""

    def __init__(self, errcode: int | None, errmsg: str = "",
                 result: dict[str, Any] | None = None) -> None:
        super().__init__(errcode, errmsg)
        self.result = result or {}

    def __str__(self) -> str:
        return f"WeChat API error {self.errcode}: {self.errmsg}" if self.errcode is not None \
            else str(self.errmsg)


class OutOfWindow(WeChatAPIError):
    """45015 (no customer-service window open) or 45047 (the window's budget is spent)."""


class NotFollowing(WeChatAPIError):
    """43004: the user does not follow the account (any more)."""


class QuotaExceeded(WeChatAPIError):
    """45009 (daily API quota) or 45028 (no mass-send quota left today)."""


class RateLimited(WeChatAPIError):
    """45011: too many calls this minute; slow down."""


class TokenError(WeChatAPIError):
    """No valid access_token: wrong credentials, or still rejected after one refresh."""


class ApiUnavailable(WeChatAPIError):
    """WeChat could not be reached or stayed busy (-1) through every retry."""


BY_CODE: dict[int, type[WeChatAPIError]] = {
    45015: OutOfWindow,
    45047: OutOfWindow,
    43004: NotFollowing,
    45009: QuotaExceeded,
    45028: QuotaExceeded,
    45011: RateLimited,
    40001: TokenError,
    40014: TokenError,
    42001: TokenError,
    41001: TokenError,
    40013: TokenError,
    40125: TokenError,
    40164: TokenError,
    -1: ApiUnavailable,
}


def error_for(errcode: int | None, errmsg: str,
              result: dict[str, Any] | None = None) -> WeChatAPIError:
    cls = BY_CODE.get(errcode, WeChatAPIError) if errcode is not None else ApiUnavailable
    return cls(errcode, errmsg, result)
