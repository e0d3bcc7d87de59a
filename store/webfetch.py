"""Fetching an article page from the web: the HTML only (extraction is ``store.extract``).

Everything that can go wrong with someone else's server is bounded and named: one deadline for
the whole fetch (connect, redirects and body together, so a server dribbling bytes cannot hold a
reply past WeChat's 5 seconds), a size cap checked while streaming, a short redirect chain,
HTML only, and no fetching of loopback or private addresses unless allowed (a chat command must
not become a way to probe the server's own network). Each failure is a :class:`FetchError`
whose message can be shown to the admin as it is.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

USER_AGENT = "Mozilla/5.0 (compatible; newsbot/0.1; +article import)"
HTML_TYPES = ("text/html", "application/xhtml+xml")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
REDIRECTS = (301, 302, 303, 307, 308)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.IGNORECASE)
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030"}


def is_web_address(text: str) -> bool:
    """Whether ``text`` starts as an address this module fetches (http:// or https://, any
    case); what follows is checked when it is fetched."""
    return text[:8].lower().startswith(("http://", "https://"))


class FetchError(Exception):
    """The page could not be fetched as an article; ``str(e)`` says why, for the admin or the
    operator. ``paste``: the address answered (a PDF, a picture, a page without article text),
    so pasting the story's text is the way to add it."""

    def __init__(self, message: str, paste: bool = False) -> None:
        super().__init__(message)
        self.paste = paste


@dataclass
class Fetched:
    url: str  # after redirects
    html: str
    content_type: str
    status: int
    size: int  # bytes received
    data: bytes = b""  # the body as received, for a picture (fetch_image)


def _check_target(url: str, allow_private: bool) -> str:
    """The host of ``url`` when it may be fetched; FetchError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("链接无效：只支持 http:// 或 https:// 开头的网址。")
    host = parts.hostname
    if allow_private:
        return host
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise FetchError(f"无法连接到 {host}：域名无法解析，请检查链接。") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            raise FetchError(f"出于安全考虑，不抓取内网或本机地址（{host}）。")
    return host


def _is_html(head: bytes) -> bool:
    """For a response without Content-Type: does it start like an HTML page?"""
    sniff = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1024].lower()
    return sniff.startswith(b"<") and (b"<html" in sniff or b"<!doctype html" in sniff)


def _not_a_page(content_type: str, head: bytes) -> FetchError:
    if content_type == "application/pdf" or head.startswith(b"%PDF"):
        kind = "PDF 文件"
    elif content_type.startswith("image/"):
        kind = "图片"
    else:
        kind = f"{content_type or '未知类型的'}文件"
    return FetchError(f"该链接是{kind}，不是网页，无法提取文章。", paste=True)


def decode_html(raw: bytes, header_charset: str | None) -> str:
    """Bytes to text: the header's charset, else the page's <meta>, else UTF-8, else GB18030."""
    candidates = []
    if header_charset:
        candidates.append(header_charset)
    m = _META_CHARSET.search(raw[:4096])
    if m:
        candidates.append(m.group(1).decode("ascii", "ignore"))
    candidates.append("utf-8")
    for name in candidates:
        name = _CHARSET_ALIASES.get(name.lower(), name.lower())
        try:
            return raw.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return raw.decode("gb18030", "replace")


def fetch_html(
    url: str,
    *,
    timeout: float = 3.0,
    max_bytes: int = 2_000_000,
    max_redirects: int = 3,
    allow_private: bool = False,
    transport: httpx.BaseTransport | None = None,
    image: bool = False,
) -> Fetched:
    """GET ``url`` and return its HTML within ``timeout`` seconds in all; FetchError otherwise.
    ``image``: a picture (IMAGE_TYPES) is wanted instead, returned in ``Fetched.data``."""
    url = url.strip()
    deadline = time.monotonic() + timeout
    with httpx.Client(
        follow_redirects=False, transport=transport, headers={"User-Agent": USER_AGENT}
    ) as client:
        for _hop in range(max_redirects + 1):
            host = _check_target(url, allow_private)
            try:
                return _get(client, url, host, deadline, timeout, max_bytes, image)
            except _Redirect as r:
                url = r.location
        raise FetchError(f"网页跳转次数过多（超过 {max_redirects} 次），无法导入。")


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


def _timed_out(timeout: float, host: str) -> FetchError:
    return FetchError(
        f"网页在 {timeout:g} 秒内没有响应（{host}），请稍后再试，或用 #添加 粘贴正文。"
    )


def _remaining(deadline: float, timeout: float, host: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _timed_out(timeout, host)
    return left


def fetch_image(url: str, **limits: Any) -> Fetched:
    """GET the picture at ``url`` (JPEG, PNG, GIF or WebP) with fetch_html's limits."""
    return fetch_html(url, image=True, **limits)


def _get(
    client: httpx.Client, url: str, host: str, deadline: float, timeout: float, max_bytes: int,
    image: bool = False,
) -> Fetched:
    try:
        with client.stream("GET", url, timeout=_remaining(deadline, timeout, host)) as resp:
            if resp.status_code in REDIRECTS and resp.headers.get("location"):
                raise _Redirect(urljoin(url, resp.headers["location"]))
            if resp.status_code >= 400:
                raise FetchError(f"网页返回错误 HTTP {resp.status_code}（{host}），无法导入。")
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            if image and ctype not in IMAGE_TYPES:
                raise FetchError(f"该链接不是图片（{ctype or '未知类型'}），请发送 JPEG、PNG 或 GIF 图片。")
            if ctype and ctype not in HTML_TYPES and not image:
                raise _not_a_page(ctype, b"")
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"网页太大（超过 {max_bytes // 1000} KB），无法导入。")
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"网页太大（超过 {max_bytes // 1000} KB），无法导入。")
                chunks.append(chunk)
                _remaining(deadline, timeout, host)
            raw = b"".join(chunks)
            if image:
                if not raw:
                    raise FetchError(f"图片内容为空（{host}）。")
                return Fetched(str(resp.url), "", ctype, resp.status_code, size, raw)
            if not ctype and not _is_html(raw[:1024]):
                raise _not_a_page(ctype, raw[:8])
            if not raw.strip():
                raise FetchError(f"网页内容为空（{host}）。")
            return Fetched(str(resp.url), decode_html(raw, resp.charset_encoding), ctype,
                           resp.status_code, size)
    except httpx.TimeoutException:
        raise _timed_out(timeout, host) from None
    except httpx.ConnectError:
        raise FetchError(f"无法连接到 {host}：网站不可达或地址有误。") from None
    except httpx.InvalidURL:
        raise FetchError("链接无效，请检查网址。") from None
    except httpx.HTTPError as e:
        raise FetchError(f"抓取网页失败（{host}）：{type(e).__name__}。") from None
